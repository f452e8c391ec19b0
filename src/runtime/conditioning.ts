import { InvalidArgumentError } from '../errors.js';
import { GraphBuilder, type Operand } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { toAct } from '../kernels/to-act.js';
import type { ClipEncoding } from '../models/clip/index.js';
import { assembleConditioning, type ConditioningTokens, padT5Rows } from '../models/conditioning.js';
import type { T5Encoding } from '../models/t5/index.js';
import type { Precision } from '../shader/contract.js';
import type { GpuTensor } from '../tensor/tensor.js';
import { type ClipTextEncoder, encodingOf } from './clip.js';
import type { DenoiserGraph } from './denoiser-graph.js';
import type { CachedGraph } from './graph-cache.js';
import type { Runtime } from './runtime.js';
import type { T5TextEncoder } from './t5.js';

/**
 * SD3's conditioning on the GPU (TEXT_VAE_SPEC §5): the text encoders run on their cached graphs,
 * then one small copy graph — compiled once per (encoder graphs, target) and cached with them —
 * assembles context and pooled rows. `conditionInto` writes them straight into a denoiser graph's
 * input buffers (cond rows, then uncond rows; zeros where T5 is absent), converting to f16 on the
 * GPU for an f16 denoiser. Nothing is read back.
 */

export interface TextEncoders {
  readonly clipL: ClipTextEncoder;
  readonly clipG: ClipTextEncoder;
  readonly t5?: T5TextEncoder | null;
}

export interface ConditioningOptions {
  /** T5 rows when T5 is absent: 77 (this engine, the `cond/no_t5` vector) or 256 (diffusers). */
  readonly absentT5Tokens?: number;
  readonly signal?: AbortSignal;
}

/** Outputs of `encodeConditioning`: valid until the next call with the same shapes, or `dispose`. */
export interface Conditioning extends Disposable {
  readonly context: GpuTensor;
  readonly pooled: GpuTensor;
  /** What each encoder produced for this batch; valid until that encoder's next `encode`. */
  readonly encodings: { readonly clipL: ClipEncoding; readonly clipG: ClipEncoding; readonly t5: T5Encoding | null };
  dispose(): void;
}

interface Encoded {
  readonly rt: Runtime;
  readonly l: CompiledGraph;
  readonly g: CompiledGraph;
  /** The T5 graph (whole mode) — null without T5 or for a sequential T5 (see `t5Seq`). */
  readonly t5Graph: CompiledGraph | null;
  readonly t5Seq: GpuTensor | null;
  readonly clipTokens: number;
  readonly t5Tokens: number;
  readonly encodings: Conditioning['encodings'];
  readonly unpin: () => void;
}

const ids = new WeakMap<object, number>();
let nextId = 0;
function idOf(o: object): number {
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}

/** Runs the encoders on their cached graphs (one submit), pinned until `unpin`. */
async function runEncoders(e: TextEncoders, tokens: ConditioningTokens, o: ConditioningOptions): Promise<Encoded> {
  const rt = e.clipL.runtime;
  if (e.clipG.runtime !== rt || (e.t5 && e.t5.runtime !== rt)) throw new InvalidArgumentError('text encoders', 'components of one runtime', 'several runtimes');
  const rows = tokens.rows;
  const pins: (() => void)[] = [];
  const unpin = () => pins.splice(0).forEach((f) => f());
  try {
    const lp = e.clipL.prepare(tokens.clipL, rows);
    const gp = e.clipG.prepare(tokens.clipG, rows);
    if (gp.tokens !== lp.tokens) throw new InvalidArgumentError('CLIP-G ids', `${lp.tokens} tokens per row like CLIP-L`, gp.tokens);
    const l = await e.clipL.compile({ batch: rows, tokens: lp.tokens });
    pins.push(rt.graphs.pin(l));
    const g = await e.clipG.compile({ batch: rows, tokens: gp.tokens });
    pins.push(rt.graphs.pin(g));
    o.signal?.throwIfAborted();
    let t5Graph: CompiledGraph | null = null;
    let t5Seq: GpuTensor | null = null;
    let t5Encoding: T5Encoding | null = null;
    let t5Tokens = o.absentT5Tokens ?? lp.tokens;
    let t5Ids: Uint32Array | null = null;
    if (e.t5 && tokens.t5) {
      if (tokens.t5.length !== rows) throw new InvalidArgumentError('T5 ids', `one id array per row (${rows})`, tokens.t5.length);
      const padded = padT5Rows(tokens.t5);
      t5Tokens = padded.tokens;
      if (e.t5.sequential) {
        t5Encoding = await e.t5.encode(padded.ids, { batch: rows, ...(o.signal ? { signal: o.signal } : {}) });
        t5Seq = t5Encoding.seq;
      } else {
        t5Ids = e.t5.prepare(padded.ids, rows).packed;
        t5Graph = await e.t5.compile({ batch: rows, tokens: padded.tokens });
        pins.push(rt.graphs.pin(t5Graph));
      }
    }
    o.signal?.throwIfAborted();
    e.clipL.writeInputs(l, lp);
    e.clipG.writeInputs(g, gp);
    if (t5Graph && t5Ids) rt.ctx.write(t5Graph.input('ids').buffer, 0, t5Ids);
    const encoder = rt.ctx.device.createCommandEncoder({ label: 'text encoders' });
    const pass = encoder.beginComputePass();
    l.encode(pass);
    g.encode(pass);
    t5Graph?.encode(pass);
    pass.end();
    rt.ctx.device.queue.submit([encoder.finish()]);
    if (t5Graph) {
      t5Seq = t5Graph.output('seq');
      t5Encoding = { seq: t5Seq, taps: t5Graph.taps };
    }
    return {
      rt, l, g, t5Graph, t5Seq, clipTokens: lp.tokens, t5Tokens, unpin,
      encodings: { clipL: encodingOf(l, lp.eot), clipG: encodingOf(g, gp.eot), t5: t5Encoding },
    };
  } catch (error) {
    unpin();
    throw error;
  }
}

/** The encoders' outputs read as f32 by the copies; other precisions would need their own rule. */
function checkF32(x: Encoded): void {
  for (const t of [x.l.output('seq'), x.l.output('pooled'), x.g.output('seq'), x.g.output('pooled'), x.t5Seq]) {
    if (t && t.format !== 'f32') throw new InvalidArgumentError(`${t.label} format`, 'f32 (load the text encoders with precision f32)', t.format);
  }
}

/** Records the assembly, converting the f32 encoder rows to the graph's precision first when it is f16. */
function emitAssembly(b: GraphBuilder, x: Encoded, contextDim: number, into?: { context: GpuTensor; pooled: GpuTensor }) {
  const cast = (t: GpuTensor): Operand & object => (b.precision === 'f32' ? t : toAct(b, t));
  return assembleConditioning(b, {
    batch: x.l.output('seq').shape[0] as number,
    lSeq: cast(x.l.output('seq')),
    gSeq: cast(x.g.output('seq')),
    t5Seq: x.t5Seq ? cast(x.t5Seq) : null,
    lPooled: cast(x.l.output('pooled')),
    gPooled: cast(x.g.output('pooled')),
    clipTokens: x.clipTokens,
    t5Tokens: x.t5Tokens,
    contextDim,
    ...(into ? { into } : {}),
  });
}

function runGraph(rt: Runtime, graph: CompiledGraph): void {
  const encoder = rt.ctx.device.createCommandEncoder({ label: 'conditioning' });
  const pass = encoder.beginComputePass();
  graph.encode(pass);
  pass.end();
  rt.ctx.device.queue.submit([encoder.finish()]);
}

/**
 * Encodes the rows (with CFG: the prompts' rows, then the negative prompts') and writes context and
 * pooled straight into `target`'s inputs, on the GPU. The target's forward batch must equal the
 * rows, its context length CLIP tokens + T5 tokens (T5's, or `absentT5Tokens` zero rows).
 */
export async function conditionInto(encoders: TextEncoders, tokens: ConditioningTokens, target: DenoiserGraph, o: ConditioningOptions = {}): Promise<void> {
  target.assertLive();
  if (tokens.rows !== target.forwardBatch) {
    throw new InvalidArgumentError('conditioning rows', `${target.forwardBatch} (the denoiser graph's forward batch${target.shape.cfg ? ', cond then uncond' : ''})`, tokens.rows);
  }
  const rt = target.runtime;
  const unpinTarget = rt.graphs.pin(target);
  const x = await runEncoders(encoders, tokens, o).catch((error: unknown) => {
    unpinTarget();
    throw error;
  });
  try {
    checkF32(x);
    if (x.clipTokens + x.t5Tokens !== target.shape.contextLength) {
      throw new InvalidArgumentError('contextLength', `${x.clipTokens + x.t5Tokens} = ${x.clipTokens} CLIP + ${x.t5Tokens} T5 tokens (compile the denoiser graph for it)`, target.shape.contextLength);
    }
    const deps: CachedGraph[] = [x.l, x.g, target, ...(x.t5Graph ? [x.t5Graph] : [])];
    const key = `cond→denoiser|${idOf(x.l)}|${idOf(x.g)}|${x.t5Graph ? idOf(x.t5Graph) : x.t5Seq ? 'seq' : 'none'}|${x.t5Tokens}|${idOf(target)}`;
    const build = () => {
      const b = new GraphBuilder(rt.ctx.caps, target.precision as Precision);
      emitAssembly(b, x, target.config.contextDim, { context: target.inputs.context, pooled: target.inputs.pooled });
      return compileGraph(rt.ctx, rt.pipelines, b);
    };
    // A sequential T5's output lives in per-call buffers: that assembly is compiled per call.
    const graph = x.t5Seq && !x.t5Graph ? await build() : await rt.graphs.get(target.owner, key, build, { dependsOn: deps });
    runGraph(rt, graph);
    if (x.t5Seq && !x.t5Graph) {
      await rt.ctx.device.queue.onSubmittedWorkDone();
      graph.dispose();
    }
  } finally {
    x.unpin();
    unpinTarget();
  }
}

/**
 * Encodes the rows and assembles context `[rows, clipTokens + t5Tokens, contextDim]` and pooled
 * `[rows, pL + pG]` in graph buffers of their own (f32), for reading (verify, tests) or copying.
 */
export async function encodeConditioning(encoders: TextEncoders, tokens: ConditioningTokens, o: ConditioningOptions & { readonly contextDim: number }): Promise<Conditioning> {
  const x = await runEncoders(encoders, tokens, o);
  try {
    checkF32(x);
    const rt = x.rt;
    const key = `cond|${idOf(x.l)}|${idOf(x.g)}|${x.t5Graph ? idOf(x.t5Graph) : 'none'}|${x.t5Tokens}|${o.contextDim}`;
    const build = () => {
      const b = new GraphBuilder(rt.ctx.caps, 'f32');
      const out = emitAssembly(b, x, o.contextDim);
      b.output('context', out.context);
      b.output('pooled', out.pooled);
      return compileGraph(rt.ctx, rt.pipelines, b);
    };
    const cacheable = !(x.t5Seq && !x.t5Graph);
    const graph = cacheable ? await rt.graphs.get(encoders.clipL, key, build, { dependsOn: [x.l, x.g, ...(x.t5Graph ? [x.t5Graph] : [])] }) : await build();
    runGraph(rt, graph);
    const dispose = () => graph.dispose();
    return { context: graph.output('context'), pooled: graph.output('pooled'), encodings: x.encodings, dispose, [Symbol.dispose]: dispose };
  } finally {
    x.unpin();
  }
}
