import { DisposedError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { t5Overrides } from '../models/stored-config.js';
import { blockTensors, type T5Config } from '../models/t5/config.js';
import { t5Bias, t5Block, t5Embed, t5Final, t5Forward } from '../models/t5/forward.js';
import { type EncodeT5Options, type LoadT5Options, openT5Checkpoint, type T5Encoding } from '../models/t5/index.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { TensorSource } from '../weights/tensor-source.js';
import type { Component } from './component.js';
import type { Runtime } from './runtime.js';
import { WeightMap } from './weight-map.js';
import { loadResident, manifestOf, uploadTensors, type WeightsInput } from './weights.js';

const TOKEN_TABLE = 'embed_tokens.weight';
const RESIDENT = [TOKEN_TABLE, 'relative_attention_bias.weight', 'final_layer_norm.weight'];

/** The shape a T5 graph is compiled for (whole mode). */
export interface T5Shape {
  readonly batch: number;
  readonly tokens: number;
  readonly taps?: boolean;
}

/**
 * Loads the T5 encoder from weights already uploaded, a converted model's component, or a
 * checkpoint. `sequential` keeps only the token table, the bias table and the final norm resident
 * and uploads one block at a time per call; it reads blocks from a checkpoint source, so it takes
 * a TensorSource that is not a converted model.
 */
export async function loadT5Encoder(rt: Runtime, input: WeightsInput, o: LoadT5Options = {}): Promise<T5TextEncoder> {
  const opts = (s: WeightMap['storedConfig'] | undefined) => ({ ...t5Overrides(s), ...o });
  if (o.sequential) {
    if (manifestOf(input) || input instanceof WeightMap) {
      throw new InvalidArgumentError('T5 sequential', 'a checkpoint TensorSource (converted models and WeightMaps load whole)', 'a converted model or uploaded weights');
    }
    const { canonical, config } = openT5Checkpoint(input as TensorSource, opts(undefined));
    const resident = await uploadTensors(rt, canonical, RESIDENT, o.signal ? { signal: o.signal } : {});
    return new T5TextEncoder(rt, config, resident, true, canonical);
  }
  return loadResident(
    rt,
    input,
    (source, s) => openT5Checkpoint(source, opts(s)),
    (config, weights, owned) => new T5TextEncoder(rt, config, weights, owned, null),
    o.signal ? { signal: o.signal } : {},
  );
}

/**
 * The T5 encoder on the GPU, always computing in f32. Whole: all weights resident, one compiled
 * graph per (batch, tokens) in the runtime's graph cache. Sequential: a graph per block per call,
 * the block's weights uploaded just before and released right after it runs.
 */
export class T5TextEncoder implements Component<T5Shape, CompiledGraph> {
  readonly kind = 't5';
  /** Sequential mode: the graphs of the last call (their buffers hold its outputs). */
  private lastRun: CompiledGraph[] = [];
  private disposed = false;

  constructor(
    readonly runtime: Runtime,
    readonly config: T5Config,
    readonly weights: WeightMap,
    private readonly ownsWeights: boolean,
    /** Sequential mode: where blocks are read from. */
    private readonly source: TensorSource | null,
  ) {}

  static load(rt: Runtime, input: WeightsInput, o: LoadT5Options = {}): Promise<T5TextEncoder> {
    return loadT5Encoder(rt, input, o);
  }

  get sequential(): boolean {
    return this.source !== null;
  }

  /** The whole-mode graph: input `ids` (u32 `[batch·tokens]`), output `seq` `[batch, tokens, D]`. */
  compile(s: T5Shape): Promise<CompiledGraph> {
    if (this.disposed) return Promise.reject(new DisposedError('T5TextEncoder'));
    if (this.sequential) return Promise.reject(new InvalidArgumentError('T5 compile', 'an encoder loaded whole (sequential mode compiles per block per call)', 'sequential'));
    return this.runtime.graphs.get(this, `t5|${s.batch}x${s.tokens}${s.taps ? '+taps' : ''}`, () => {
      const b = new GraphBuilder(this.runtime.ctx.caps, 'f32', Boolean(s.taps));
      b.output('seq', t5Forward(b, this.weights, this.config, { batch: s.batch, tokens: s.tokens, ids: b.input('ids', [s.batch * s.tokens], 'u32'), table: this.weights.table(TOKEN_TABLE) }).seq);
      return compileGraph(this.runtime.ctx, this.runtime.pipelines, b);
    });
  }

  /** Checks and packs ids. */
  prepare(ids: ArrayLike<number>, batchOption = 1): { packed: Uint32Array; batch: number; tokens: number } {
    if (this.disposed) throw new DisposedError('T5TextEncoder');
    const batch = batchOption;
    const tokens = ids.length / batch;
    if (!Number.isInteger(batch) || batch < 1 || !Number.isInteger(tokens) || tokens < 1) {
      throw new InvalidArgumentError('T5 ids', `batch·tokens ids (batch ${batch})`, ids.length);
    }
    const packed = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) throw new InvalidArgumentError(`T5 id at ${i}`, `an integer in [0, ${this.config.vocabSize})`, id);
      packed[i] = id;
    }
    return { packed, batch, tokens };
  }

  async encode(ids: ArrayLike<number>, o: EncodeT5Options = {}): Promise<T5Encoding> {
    const p = this.prepare(ids, o.batch ?? 1);
    if (this.sequential) return this.encodeSequential(p.packed, p.batch, p.tokens, o);
    const graph = await this.compile({ batch: p.batch, tokens: p.tokens, taps: Boolean(o.taps) });
    this.runtime.ctx.write(graph.input('ids').buffer, 0, p.packed);
    graph.run();
    return { seq: graph.output('seq'), taps: graph.taps };
  }

  private async encodeSequential(ids: Uint32Array, batch: number, tokens: number, o: EncodeT5Options): Promise<T5Encoding> {
    this.releaseLastRun();
    const c = this.config;
    const rt = this.runtime;
    const source = this.source as TensorSource;
    const taps = new Map<string, GpuTensor>();
    const keep = Boolean(o.taps);
    const head = new GraphBuilder(rt.ctx.caps, 'f32', keep);
    head.output('x', t5Embed(head, this.weights.table(TOKEN_TABLE), head.input('ids', [batch * tokens], 'u32'), tokens));
    head.output('bias', t5Bias(head, this.weights, c, tokens));
    const first = await this.track(compileGraph(rt.ctx, rt.pipelines, head));
    rt.ctx.write(first.input('ids').buffer, 0, ids);
    first.run();
    taps.set('embeddings', first.output('x'));
    taps.set('position_bias', first.output('bias'));
    let x = first.output('x');
    for (let i = 0; i < c.layers; i++) {
      o.signal?.throwIfAborted();
      const blockWeights = await uploadTensors(rt, source, blockTensors(c, i).keys(), o.signal ? { signal: o.signal } : {});
      try {
        const b = new GraphBuilder(rt.ctx.caps, 'f32', false);
        const input = b.input('x', [batch, tokens, c.dModel]);
        const weights = new Map([...this.weights, ...blockWeights]);
        const y = t5Block(b, weights, c, i, input, first.output('bias'), batch, tokens);
        b.output('x', y);
        if (i === c.layers - 1) b.output('seq', t5Final(b, weights, c, y));
        const graph = await this.track(compileGraph(rt.ctx, rt.pipelines, b));
        this.copy(x, graph.input('x'));
        graph.run();
        x = graph.output('x');
        taps.set(`layer_${i}`, x);
      } finally {
        // Submitted work keeps using the buffers; WebGPU frees them once it completes.
        blockWeights.release();
      }
      // Without taps only the newest block graph (its output feeds the next) and the head (bias) stay.
      if (!keep) this.releaseOlderBlocks();
    }
    const last = this.lastRun.at(-1) as CompiledGraph;
    return { seq: c.layers > 0 ? last.output('seq') : await this.finalOnly(x), taps: keep ? taps : new Map() };
  }

  private async finalOnly(x: GpuTensor): Promise<GpuTensor> {
    const rt = this.runtime;
    const b = new GraphBuilder(rt.ctx.caps, 'f32', false);
    b.output('seq', t5Final(b, this.weights, this.config, b.input('x', x.shape)));
    const graph = await this.track(compileGraph(rt.ctx, rt.pipelines, b));
    this.copy(x, graph.input('x'));
    graph.run();
    return graph.output('seq');
  }

  private async track(pending: Promise<CompiledGraph>): Promise<CompiledGraph> {
    const graph = await pending;
    this.lastRun.push(graph);
    return graph;
  }

  private copy(from: GpuTensor, to: GpuTensor): void {
    const ctx = this.runtime.ctx;
    const encoder = ctx.device.createCommandEncoder({ label: 't5 block input' });
    encoder.copyBufferToBuffer(from.buffer, from.offset, to.buffer, to.offset, elementCount(from.shape) * 4);
    ctx.device.queue.submit([encoder.finish()]);
  }

  private releaseOlderBlocks(): void {
    while (this.lastRun.length > 2) this.lastRun.splice(1, 1)[0]?.dispose();
  }

  private releaseLastRun(): void {
    for (const g of this.lastRun) g.dispose();
    this.lastRun = [];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseLastRun();
    this.runtime.graphs.release(this);
    if (this.ownsWeights) this.weights.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
