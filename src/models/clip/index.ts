import type { GpuContext } from '../../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../../errors.js';
import { GraphBuilder } from '../../graph/builder.js';
import { compileGraph } from '../../graph/compile.js';
import type { CompiledGraph } from '../../graph/compiled-graph.js';
import type { Precision } from '../../shader/contract.js';
import type { EmbeddingTable } from '../../kernels/embed.js';
import type { PipelineCache } from '../../shader/pipeline-cache.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { releaseTokenTable, uploadTokenTable } from '../table-upload.js';
import { releaseWeights, uploadWeights, type WeightMap } from '../upload.js';
import { checkClipTensors, type ClipConfig, type ClipOverrides, deriveClipConfig } from './config.js';
import { clipForward } from './forward.js';
import { canonicalClipSource, type ClipKeyOptions } from './keys.js';

export { type ClipActivation, type ClipConfig, type ClipModel, type ClipOverrides, deriveClipConfig, expectedClipTensors } from './config.js';
export { type ClipInputs, type ClipOutputs, clipForward, clipLayer } from './forward.js';
export { type CanonicalClip, canonicalClipSource, type ClipKeyOptions } from './keys.js';

export interface LoadClipOptions extends ClipKeyOptions, ClipOverrides {
  readonly precision?: Precision;
  readonly signal?: AbortSignal;
}

export interface EncodeClipOptions {
  /** Sequences in `ids` (default: ids.length / the position table's rows). */
  readonly batch?: number;
  /** Also compute `lastHidden` and `pooledAlternative` (reference vectors, diffusers' rule). */
  readonly extras?: boolean;
  /** Keep `embeddings` and `layer_{i}` for reading (tests, verify). */
  readonly taps?: boolean;
}

/** Outputs live in the encoder's buffers until its next `encode` or `dispose`. */
export interface ClipEncoding {
  readonly seq: GpuTensor;
  readonly pooled: GpuTensor;
  readonly lastHidden?: GpuTensor;
  readonly pooledAlternative?: GpuTensor;
  /** Index of each sequence's first end token (the pooled row). */
  readonly eot: Int32Array;
  readonly taps: ReadonlyMap<string, GpuTensor>;
}

const TOKEN_TABLE = 'token_embedding.weight';
/** Compiled shapes kept: SD3 uses one (2 × 77); more only hold activation memory. */
const GRAPHS_KEPT = 2;

/** Disposes the oldest entries (Map order is insertion order) beyond `keep`. */
export function keepNewest(graphs: Map<string, CompiledGraph>, keep: number): void {
  for (const [key, graph] of graphs) {
    if (graphs.size <= keep) break;
    graph.dispose();
    graphs.delete(key);
  }
}

/** Position of the first largest id in each sequence: the first end token, whatever the pad id. */
export function endTokenIndices(ids: ArrayLike<number>, batch: number, tokens: number): Int32Array {
  const out = new Int32Array(batch);
  for (let s = 0; s < batch; s++) {
    let best = 0;
    for (let t = 1; t < tokens; t++) if ((ids[s * tokens + t] as number) > (ids[s * tokens + best] as number)) best = t;
    out[s] = best;
  }
  return out;
}

/**
 * The CLIP text encoder of a checkpoint under canonical names with its configuration, every tensor
 * checked (missing, unexpected, mis-shaped → CheckpointError naming the checkpoint key). No GPU work.
 */
export function openClipCheckpoint(source: TensorSource, o: ClipKeyOptions & ClipOverrides = {}): { canonical: TensorSource; config: ClipConfig } {
  const canonical = canonicalClipSource(source, o);
  const config = deriveClipConfig(canonical.source.tensors, o, canonical.modelHint);
  checkClipTensors(canonical.source.tensors, config, canonical.describe);
  return { canonical: canonical.source, config };
}

/**
 * A CLIP text encoder on the GPU: weights uploaded once, one compiled graph per (batch, tokens,
 * outputs) reused across prompts. Loading checks the checkpoint completely before any upload.
 */
export class ClipTextEncoder implements Disposable {
  private readonly graphs = new Map<string, CompiledGraph>();
  private disposed = false;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly cache: PipelineCache,
    readonly config: ClipConfig,
    private readonly weights: WeightMap,
    private readonly table: EmbeddingTable,
    private readonly precision: Precision,
  ) {}

  static async load(ctx: GpuContext, cache: PipelineCache, source: TensorSource, o: LoadClipOptions = {}): Promise<ClipTextEncoder> {
    const { canonical, config } = openClipCheckpoint(source, o);
    const table = await uploadTokenTable(ctx, canonical, TOKEN_TABLE, o.signal);
    try {
      const rest = [...canonical.tensors.keys()].filter((name) => name !== TOKEN_TABLE);
      const weights = await uploadWeights(ctx, canonical, rest, o.signal ? { signal: o.signal } : {});
      return new ClipTextEncoder(ctx, cache, config, weights, table, o.precision ?? 'f32');
    } catch (error) {
      releaseTokenTable(ctx, table);
      throw error;
    }
  }

  async encode(ids: ArrayLike<number>, o: EncodeClipOptions = {}): Promise<ClipEncoding> {
    if (this.disposed) throw new DisposedError('ClipTextEncoder');
    const c = this.config;
    const batch = o.batch ?? Math.max(1, Math.floor(ids.length / c.maxPositions));
    const tokens = ids.length / batch;
    if (!Number.isInteger(tokens) || tokens < 1 || tokens > c.maxPositions) {
      throw new InvalidArgumentError('CLIP ids', `batch·tokens ids with 1 ≤ tokens ≤ ${c.maxPositions} (batch ${batch})`, ids.length);
    }
    const packed = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new InvalidArgumentError(`CLIP id at ${i}`, `an integer in [0, ${c.vocabSize})`, id);
      packed[i] = id;
    }
    const eot = endTokenIndices(packed, batch, tokens);
    const graph = await this.graph(batch, tokens, Boolean(o.extras), Boolean(o.taps));
    this.ctx.write(graph.input('ids').buffer, 0, packed);
    this.ctx.write(graph.input('eot').buffer, 0, new Uint32Array(eot));
    graph.run();
    const out = graph.outputs;
    const extra = (name: string) => (out.has(name) ? { [name]: out.get(name) as GpuTensor } : {});
    return {
      seq: graph.output('seq'),
      pooled: graph.output('pooled'),
      ...extra('lastHidden'),
      ...extra('pooledAlternative'),
      eot,
      taps: graph.taps,
    };
  }

  private async graph(batch: number, tokens: number, extras: boolean, taps: boolean): Promise<CompiledGraph> {
    const key = `${batch}x${tokens}${extras ? '+extras' : ''}${taps ? '+taps' : ''}`;
    const existing = this.graphs.get(key);
    if (existing) return existing;
    const b = new GraphBuilder(this.ctx.caps, this.precision, taps);
    const ids = b.input('ids', [batch * tokens], 'u32');
    const eot = b.input('eot', [batch], 'u32');
    const outs = clipForward(b, this.weights, this.config, { batch, tokens, ids, eot, table: this.table }, { extras });
    b.output('seq', outs.seq);
    b.output('pooled', outs.pooled);
    if (outs.lastHidden) b.output('lastHidden', outs.lastHidden);
    if (outs.pooledAlternative) b.output('pooledAlternative', outs.pooledAlternative);
    const graph = await compileGraph(this.ctx, this.cache, b);
    this.graphs.set(key, graph);
    keepNewest(this.graphs, GRAPHS_KEPT);
    return graph;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const g of this.graphs.values()) g.dispose();
    this.graphs.clear();
    releaseWeights(this.ctx, this.weights);
    releaseTokenTable(this.ctx, this.table);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
