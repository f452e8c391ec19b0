import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import { copyRows } from '../kernels/copy-rows.js';
import { denseLayout } from '../kernels/matmul.js';

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
  /**
   * Write into these instead of new values: the denoiser graph's own input tensors, so the
   * encoders' rows land in its inputs with no copy in between.
   */
  readonly into?: { readonly context: Operand & object; readonly pooled: Operand & object };
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
  // A tensor destination is bound like a weight; copyRows only reads its shape.
  const context = (s.into?.context ?? b.temp([batch, rows, C], 'context')) as Value;
  const [pL, pG] = [lastDim(s.lPooled), lastDim(s.gPooled)];
  const pooled = (s.into?.pooled ?? b.temp([batch, pL + pG], 'pooled')) as Value;
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
