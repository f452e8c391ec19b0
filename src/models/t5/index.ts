import type { GpuContext } from '../../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../../errors.js';
import { GraphBuilder } from '../../graph/builder.js';
import { compileGraph } from '../../graph/compile.js';
import type { CompiledGraph } from '../../graph/compiled-graph.js';
import type { PipelineCache } from '../../shader/pipeline-cache.js';
import { elementCount, type GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import type { EmbeddingTable } from '../../kernels/embed.js';
import { keepNewest } from '../clip/index.js';
import { releaseTokenTable, uploadTokenTable } from '../table-upload.js';
import { releaseWeights, uploadWeights, type WeightMap } from '../upload.js';
import { blockTensors, checkT5Tensors, deriveT5Config, type T5Config, type T5Overrides } from './config.js';
import { t5Bias, t5Block, t5Embed, t5Final, t5Forward } from './forward.js';
import { canonicalT5Source, type T5KeyOptions } from './keys.js';

export { blockTensors, deriveT5Config, expectedT5Tensors, type T5Config, type T5Overrides } from './config.js';
export { t5Bias, t5Block, t5Embed, t5Final, t5Forward } from './forward.js';
export { type CanonicalT5, canonicalT5Source, type T5KeyOptions } from './keys.js';
export { bucketMatrix, distanceBuckets, relativePositionBucket } from './relative-position.js';

export interface LoadT5Options extends T5KeyOptions, T5Overrides {
  /**
   * Keep only the token table, the bias table and the final norm resident; each `encode` uploads
   * block i, runs it and frees it before the next (T5-XXL: one f16 block is 386 MB, the whole
   * encoder 9.5 GB).
   */
  readonly sequential?: boolean;
  readonly signal?: AbortSignal;
}

export interface EncodeT5Options {
  /** Sequences in `ids` (default 1). */
  readonly batch?: number;
  /** Keep `embeddings`, `position_bias` and `layer_{i}` for reading (tests, verify). */
  readonly taps?: boolean;
  readonly signal?: AbortSignal;
}

/** `seq` lives in the encoder's buffers until its next `encode` or `dispose`. */
export interface T5Encoding {
  readonly seq: GpuTensor;
  readonly taps: ReadonlyMap<string, GpuTensor>;
}

const TOKEN_TABLE = 'embed_tokens.weight';
const RESIDENT = ['relative_attention_bias.weight', 'final_layer_norm.weight'];

/**
 * The T5 encoder of a checkpoint under canonical names with its configuration, every tensor
 * checked (missing, unexpected, mis-shaped → CheckpointError naming the checkpoint key). No GPU work.
 */
export function openT5Checkpoint(source: TensorSource, o: T5KeyOptions & T5Overrides = {}): { canonical: TensorSource; config: T5Config } {
  const canonical = canonicalT5Source(source, o);
  const config = deriveT5Config(canonical.source.tensors, o);
  checkT5Tensors(canonical.source.tensors, config, canonical.describe);
  return { canonical: canonical.source, config };
}

/**
 * The T5 encoder on the GPU, always computing in f32. Whole: all weights resident, one compiled
 * graph per (batch, tokens). Sequential: a graph per block per call, the block's weights uploaded
 * just before and released right after it runs.
 */
export class T5TextEncoder implements Disposable {
  private readonly graphs = new Map<string, CompiledGraph>();
  /** Sequential mode: the graphs of the last call (their buffers hold its outputs). */
  private lastRun: CompiledGraph[] = [];
  private disposed = false;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly cache: PipelineCache,
    readonly config: T5Config,
    private readonly source: TensorSource,
    private readonly weights: WeightMap,
    private readonly table: EmbeddingTable,
    readonly sequential: boolean,
  ) {}

  static async load(ctx: GpuContext, cache: PipelineCache, source: TensorSource, o: LoadT5Options = {}): Promise<T5TextEncoder> {
    const { canonical, config } = openT5Checkpoint(source, o);
    const sequential = Boolean(o.sequential);
    const table = await uploadTokenTable(ctx, canonical, TOKEN_TABLE, o.signal);
    try {
      const names = sequential ? RESIDENT : [...canonical.tensors.keys()].filter((name) => name !== TOKEN_TABLE);
      const weights = await uploadWeights(ctx, canonical, names, o.signal ? { signal: o.signal } : {});
      return new T5TextEncoder(ctx, cache, config, canonical, weights, table, sequential);
    } catch (error) {
      releaseTokenTable(ctx, table);
      throw error;
    }
  }

  async encode(ids: ArrayLike<number>, o: EncodeT5Options = {}): Promise<T5Encoding> {
    if (this.disposed) throw new DisposedError('T5TextEncoder');
    const batch = o.batch ?? 1;
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
    return this.sequential ? this.encodeSequential(packed, batch, tokens, o) : this.encodeWhole(packed, batch, tokens, Boolean(o.taps));
  }

  private async encodeWhole(ids: Uint32Array, batch: number, tokens: number, taps: boolean): Promise<T5Encoding> {
    const key = `${batch}x${tokens}${taps ? '+taps' : ''}`;
    let graph = this.graphs.get(key);
    if (!graph) {
      const b = new GraphBuilder(this.ctx.caps, 'f32', taps);
      b.output('seq', t5Forward(b, this.weights, this.config, { batch, tokens, ids: b.input('ids', [batch * tokens], 'u32'), table: this.table }).seq);
      graph = await compileGraph(this.ctx, this.cache, b);
      this.graphs.set(key, graph);
      // Every prompt length is a shape of its own: keep the newest few, not one per length seen.
      keepNewest(this.graphs, 2);
    }
    this.ctx.write(graph.input('ids').buffer, 0, ids);
    graph.run();
    return { seq: graph.output('seq'), taps: graph.taps };
  }

  private async encodeSequential(ids: Uint32Array, batch: number, tokens: number, o: EncodeT5Options): Promise<T5Encoding> {
    this.releaseLastRun();
    const c = this.config;
    const taps = new Map<string, GpuTensor>();
    const keep = Boolean(o.taps);
    const head = new GraphBuilder(this.ctx.caps, 'f32', keep);
    head.output('x', t5Embed(head, this.table, head.input('ids', [batch * tokens], 'u32'), tokens));
    head.output('bias', t5Bias(head, this.weights, c, tokens));
    const first = await this.track(compileGraph(this.ctx, this.cache, head));
    this.ctx.write(first.input('ids').buffer, 0, ids);
    first.run();
    taps.set('embeddings', first.output('x'));
    taps.set('position_bias', first.output('bias'));
    let x = first.output('x');
    for (let i = 0; i < c.layers; i++) {
      o.signal?.throwIfAborted();
      const blockWeights = await uploadWeights(this.ctx, this.source, blockTensors(c, i).keys(), o.signal ? { signal: o.signal } : {});
      try {
        const b = new GraphBuilder(this.ctx.caps, 'f32', false);
        const input = b.input('x', [batch, tokens, c.dModel]);
        const weights = new Map([...this.weights, ...blockWeights]);
        const y = t5Block(b, weights, c, i, input, first.output('bias'), batch, tokens);
        b.output('x', y);
        if (i === c.layers - 1) b.output('seq', t5Final(b, weights, c, y));
        const graph = await this.track(compileGraph(this.ctx, this.cache, b));
        this.copy(x, graph.input('x'));
        graph.run();
        x = graph.output('x');
        taps.set(`layer_${i}`, x);
      } finally {
        // Submitted work keeps using the buffers; WebGPU frees them once it completes.
        releaseWeights(this.ctx, blockWeights);
      }
      // Without taps only the newest block graph (its output feeds the next) and the head (bias) stay.
      if (!keep) this.releaseOlderBlocks();
    }
    const last = this.lastRun.at(-1) as CompiledGraph;
    return { seq: c.layers > 0 ? last.output('seq') : await this.finalOnly(x), taps: keep ? taps : new Map() };
  }

  private async finalOnly(x: GpuTensor): Promise<GpuTensor> {
    const b = new GraphBuilder(this.ctx.caps, 'f32', false);
    b.output('seq', t5Final(b, this.weights, this.config, b.input('x', x.shape)));
    const graph = await this.track(compileGraph(this.ctx, this.cache, b));
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
    const encoder = this.ctx.device.createCommandEncoder({ label: 't5 block input' });
    encoder.copyBufferToBuffer(from.buffer, from.offset, to.buffer, to.offset, elementCount(from.shape) * 4);
    this.ctx.device.queue.submit([encoder.finish()]);
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
    for (const g of this.graphs.values()) g.dispose();
    this.graphs.clear();
    releaseWeights(this.ctx, this.weights);
    releaseTokenTable(this.ctx, this.table);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
