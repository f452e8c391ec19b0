import type { GpuContext } from '../gpu/device.js';
import { InvalidArgumentError } from '../errors.js';
import { GraphBuilder, type Operand, type Value } from '../graph/builder.js';
import { compileGraph } from '../graph/compile.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { copyRows } from '../kernels/copy-rows.js';
import { denseLayout } from '../kernels/matmul.js';
import type { PipelineCache } from '../shader/pipeline-cache.js';
import type { GpuTensor } from '../tensor/tensor.js';
import type { ClipEncoding, ClipTextEncoder } from './clip/index.js';
import type { T5Encoding, T5TextEncoder } from './t5/index.js';

/**
 * SD3's conditioning (TEXT_VAE_SPEC.md §5), for a batch of rows (with CFG: the prompts' rows, then
 * the negative prompts' rows):
 *   context[r] = [ L_seq[r] ‖ G_seq[r] ‖ 0 … ]  (77 rows, zero-padded to contextDim)
 *                followed by T5_seq[r]           (t5Tokens rows; zeros when T5 is absent)
 *   pooled[r]  = L_pooled[r] ‖ G_pooled[r]
 * Only copies: the result equals the encoders' outputs bit for bit.
 */
export interface ConditioningSources {
  /** Rows of the batch (2B with CFG). */
  readonly batch: number;
  /** `[batch, clipTokens, dL]`, `[batch, clipTokens, dG]`. */
  readonly lSeq: Operand & object;
  readonly gSeq: Operand & object;
  /** `[batch, t5Tokens, ≤ contextDim]`, or null for zeros. */
  readonly t5Seq: (Operand & object) | null;
  /** `[batch, dL]`, `[batch, dG]`. */
  readonly lPooled: Operand & object;
  readonly gPooled: Operand & object;
  /** 77 in SD3. */
  readonly clipTokens: number;
  /** T5 rows (77 when T5 is absent in this engine's convention; 256 matches diffusers). */
  readonly t5Tokens: number;
  /** The denoiser's context width (4096 in SD3). */
  readonly contextDim: number;
  /** Write into the denoiser's own input values instead of new ones. */
  readonly into?: { readonly context: Value; readonly pooled: Value };
}

function lastDim(x: Operand & object): number {
  return x.shape.at(-1) as number;
}

/**
 * Records the assembly; returns `context [batch, clipTokens + t5Tokens, contextDim]` and
 * `pooled [batch, pL + pG]` (the pooled widths: D for L, the projection's for G; 768 + 1280 in SD3).
 */
export function assembleConditioning(b: GraphBuilder, s: ConditioningSources): { context: Value; pooled: Value } {
  const { batch, clipTokens: L, t5Tokens: T, contextDim: C } = s;
  const [dL, dG] = [lastDim(s.lSeq), lastDim(s.gSeq)];
  if (dL + dG > C) throw new InvalidArgumentError('conditioning contextDim', `at least dL + dG = ${dL + dG}`, C);
  if (s.t5Seq && lastDim(s.t5Seq) > C) throw new InvalidArgumentError('conditioning T5 width', `at most contextDim ${C}`, lastDim(s.t5Seq));
  const expect = (x: Operand & object, what: string, shape: readonly number[]) => {
    if (x.shape.reduce((p, d) => p * d, 1) !== shape.reduce((p, d) => p * d, 1)) {
      throw new InvalidArgumentError(`conditioning ${what} shape`, JSON.stringify(shape), JSON.stringify(x.shape));
    }
  };
  expect(s.lSeq, 'CLIP-L sequence', [batch, L, dL]);
  expect(s.gSeq, 'CLIP-G sequence', [batch, L, dG]);
  if (s.t5Seq) expect(s.t5Seq, 'T5 sequence', [batch, T, lastDim(s.t5Seq)]);
  expect(s.lPooled, 'CLIP-L pooled', [batch, lastDim(s.lPooled)]);
  expect(s.gPooled, 'CLIP-G pooled', [batch, lastDim(s.gPooled)]);
  const rows = L + T;
  const context = s.into?.context ?? b.temp([batch, rows, C], 'context');
  const [pL, pG] = [lastDim(s.lPooled), lastDim(s.gPooled)];
  const pooled = s.into?.pooled ?? b.temp([batch, pL + pG], 'pooled');
  const clipRows = { seg: L, segRows: rows, offset: 0, stride: C };
  copyRows(b, {
    rows: batch * L, cols: dL,
    src: { value: s.lSeq, layout: denseLayout(batch * L, dL) },
    into: { value: context, layout: { ...clipRows, col: 0 } },
    label: 'context ← CLIP-L',
  });
  // G's columns, then zeros up to the context width.
  copyRows(b, {
    rows: batch * L, cols: C - dL,
    src: { value: s.gSeq, layout: denseLayout(batch * L, dG), cols: dG },
    into: { value: context, layout: { ...clipRows, col: dL } },
    label: 'context ← CLIP-G, zero pad',
  });
  const t5Layout = { seg: T, segRows: rows, offset: L, stride: C, col: 0 };
  copyRows(b, {
    rows: batch * T, cols: C,
    src: s.t5Seq ? { value: s.t5Seq, layout: denseLayout(batch * T, lastDim(s.t5Seq)), cols: lastDim(s.t5Seq) } : null,
    into: { value: context, layout: t5Layout },
    label: s.t5Seq ? 'context ← T5' : 'context ← zeros (no T5)',
  });
  copyRows(b, { rows: batch, cols: pL, src: { value: s.lPooled }, into: { value: pooled, layout: denseLayout(batch, pL + pG) }, label: 'pooled ← CLIP-L' });
  copyRows(b, { rows: batch, cols: pG, src: { value: s.gPooled }, into: { value: pooled, layout: { ...denseLayout(batch, pL + pG), col: pL } }, label: 'pooled ← CLIP-G' });
  return { context, pooled };
}

/** Token ids of the rows of one conditioning batch (each array: rows concatenated). */
export interface ConditioningTokens {
  readonly rows: number;
  /** `[rows·77]` CLIP-L ids (padded with the end token). */
  readonly clipL: ArrayLike<number>;
  /** `[rows·77]` CLIP-G ids (padded with 0). */
  readonly clipG: ArrayLike<number>;
  /** Per row, that row's T5 ids (any lengths: shorter rows are padded with 0 to the longest). */
  readonly t5?: readonly ArrayLike<number>[] | null;
}

export interface ConditioningOptions {
  /** 4096 in SD3. */
  readonly contextDim: number;
  /** T5 rows when T5 is absent: 77 (this engine, the `cond/no_t5` vector) or 256 (diffusers). */
  readonly absentT5Tokens?: number;
  readonly signal?: AbortSignal;
}

/** Outputs live until `dispose` (they are the assembly graph's buffers). */
export interface Conditioning extends Disposable {
  readonly context: GpuTensor;
  readonly pooled: GpuTensor;
  /** What each encoder produced for this batch; valid until that encoder's next `encode`. */
  readonly encodings: { readonly clipL: ClipEncoding; readonly clipG: ClipEncoding; readonly t5: T5Encoding | null };
  dispose(): void;
}

/**
 * One conditioning batch from per-prompt token sets (the tokenizer's output), in row order: with
 * CFG pass the prompts first, then their negative prompts.
 */
export function stackTokens(rows: readonly { readonly clipL: ArrayLike<number>; readonly clipG: ArrayLike<number>; readonly t5?: ArrayLike<number> }[]): ConditioningTokens {
  const join = (pick: (r: (typeof rows)[number]) => ArrayLike<number>): Int32Array => {
    const out = new Int32Array(rows.reduce((n, r) => n + pick(r).length, 0));
    let at = 0;
    for (const r of rows) {
      out.set(Array.from(pick(r)), at);
      at += pick(r).length;
    }
    return out;
  };
  const t5 = rows.every((r) => r.t5) ? rows.map((r) => r.t5 as ArrayLike<number>) : null;
  return { rows: rows.length, clipL: join((r) => r.clipL), clipG: join((r) => r.clipG), t5 };
}

/** Pads each row's T5 ids with 0 (the pad id) to the longest, so all rows batch together. */
export function padT5Rows(rows: readonly ArrayLike<number>[]): { ids: Int32Array; tokens: number } {
  const tokens = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * tokens);
  rows.forEach((r, i) => {
    for (let t = 0; t < r.length; t++) ids[i * tokens + t] = r[t] as number;
  });
  return { ids, tokens };
}

/**
 * Encodes a batch of rows with the text encoders and assembles SD3's context and pooled vector on
 * the GPU; nothing is read back. `t5` null (or no T5 ids) gives zero rows in T5's place.
 */
export async function encodeConditioning(
  ctx: GpuContext,
  cache: PipelineCache,
  encoders: { readonly clipL: ClipTextEncoder; readonly clipG: ClipTextEncoder; readonly t5?: T5TextEncoder | null },
  tokens: ConditioningTokens,
  o: ConditioningOptions,
): Promise<Conditioning> {
  const rows = tokens.rows;
  const l = await encoders.clipL.encode(tokens.clipL, { batch: rows });
  o.signal?.throwIfAborted();
  const g = await encoders.clipG.encode(tokens.clipG, { batch: rows });
  o.signal?.throwIfAborted();
  const clipTokens = l.seq.shape[1] as number;
  if (g.seq.shape[1] !== clipTokens) throw new InvalidArgumentError('CLIP-G ids', `${clipTokens} tokens per row like CLIP-L`, g.seq.shape[1]);
  let t5: T5Encoding | null = null;
  let t5Tokens = o.absentT5Tokens ?? clipTokens;
  if (encoders.t5 && tokens.t5) {
    if (tokens.t5.length !== rows) throw new InvalidArgumentError('T5 ids', `one id array per row (${rows})`, tokens.t5.length);
    const padded = padT5Rows(tokens.t5);
    t5 = await encoders.t5.encode(padded.ids, { batch: rows, ...(o.signal ? { signal: o.signal } : {}) });
    t5Tokens = padded.tokens;
  }
  const t5Seq = t5?.seq ?? null;
  // The reference runs every text encoder in f32; the copies read their outputs as f32.
  for (const t of [l.seq, l.pooled, g.seq, g.pooled, t5Seq]) {
    if (t && t.format !== 'f32') throw new InvalidArgumentError(`${t.label} format`, 'f32 (load the CLIP encoders with precision f32)', t.format);
  }
  const b = new GraphBuilder(ctx.caps, 'f32', false);
  const out = assembleConditioning(b, {
    batch: rows, lSeq: l.seq, gSeq: g.seq, t5Seq, lPooled: l.pooled, gPooled: g.pooled, clipTokens, t5Tokens, contextDim: o.contextDim,
  });
  b.output('context', out.context);
  b.output('pooled', out.pooled);
  const graph: CompiledGraph = await compileGraph(ctx, cache, b);
  graph.run();
  return {
    context: graph.output('context'),
    pooled: graph.output('pooled'),
    encodings: { clipL: l, clipG: g, t5 },
    dispose: () => graph.dispose(),
    [Symbol.dispose]: () => graph.dispose(),
  };
}
