import { DisposedError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { type ClipEncoding, type EncodeClipOptions, endTokenIndices, openClipCheckpoint, type LoadClipOptions } from '../models/clip/index.js';
import type { ClipConfig } from '../models/clip/config.js';
import { clipForward } from '../models/clip/forward.js';
import { clipOverrides } from '../models/stored-config.js';
import type { Precision } from '../shader/contract.js';
import type { GpuTensor } from '../tensor/tensor.js';
import type { Component } from './component.js';
import { checkPrecision } from './denoiser.js';
import type { Runtime } from './runtime.js';
import type { WeightMap } from './weight-map.js';
import { loadResident, type WeightsInput } from './weights.js';

const TOKEN_TABLE = 'token_embedding.weight';

/** The shape a CLIP graph is compiled for. */
export interface ClipShape {
  readonly batch: number;
  /** Tokens per sequence (77 in SD3). */
  readonly tokens: number;
  /** Also compute `lastHidden` and `pooledAlternative` (reference vectors, diffusers' rule). */
  readonly extras?: boolean;
  /** Keep `embeddings` and `layer_{i}` readable. */
  readonly taps?: boolean;
}

/**
 * Loads a CLIP text encoder (L or G): from weights already uploaded, a converted model's
 * component, or a checkpoint. The checkpoint is checked completely before any upload.
 */
export async function loadClipEncoder(rt: Runtime, input: WeightsInput, o: LoadClipOptions = {}): Promise<ClipTextEncoder> {
  const precision = checkPrecision(rt, o.precision ?? 'f32');
  return loadResident(
    rt,
    input,
    (source, stored) => openClipCheckpoint(source, { ...clipOverrides(stored), ...o }),
    (config, weights, owned) => new ClipTextEncoder(rt, config, weights, owned, precision),
    o.signal ? { signal: o.signal } : {},
  );
}

/**
 * A CLIP text encoder on the GPU: weights uploaded once, one compiled graph per (batch, tokens,
 * outputs) in the runtime's graph cache, reused across prompts.
 */
export class ClipTextEncoder implements Component<ClipShape, CompiledGraph> {
  readonly kind = 'clip';
  private disposed = false;

  constructor(
    readonly runtime: Runtime,
    readonly config: ClipConfig,
    readonly weights: WeightMap,
    private readonly ownsWeights: boolean,
    readonly precision: Precision,
  ) {}

  /** `loadClipEncoder` under the name of the class. */
  static load(rt: Runtime, input: WeightsInput, o: LoadClipOptions = {}): Promise<ClipTextEncoder> {
    return loadClipEncoder(rt, input, o);
  }

  /** The graph for one shape: inputs `ids` (u32 `[batch·tokens]`) and `eot` (u32 `[batch]`), outputs `seq`, `pooled` (+ extras). */
  compile(s: ClipShape): Promise<CompiledGraph> {
    if (this.disposed) return Promise.reject(new DisposedError('ClipTextEncoder'));
    const key = `clip|${s.batch}x${s.tokens}${s.extras ? '+extras' : ''}${s.taps ? '+taps' : ''}`;
    return this.runtime.graphs.get(this, key, async () => {
      const b = new GraphBuilder(this.runtime.ctx.caps, this.precision, Boolean(s.taps));
      const ids = b.input('ids', [s.batch * s.tokens], 'u32');
      const eot = b.input('eot', [s.batch], 'u32');
      const outs = clipForward(b, this.weights, this.config, { batch: s.batch, tokens: s.tokens, ids, eot, table: this.weights.table(TOKEN_TABLE) }, { extras: Boolean(s.extras) });
      b.output('seq', outs.seq);
      b.output('pooled', outs.pooled);
      if (outs.lastHidden) b.output('lastHidden', outs.lastHidden);
      if (outs.pooledAlternative) b.output('pooledAlternative', outs.pooledAlternative);
      return compileGraph(this.runtime.ctx, this.runtime.pipelines, b);
    });
  }

  /** Checks ids and packs them with their end-token positions. */
  prepare(ids: ArrayLike<number>, batchOption?: number): { packed: Uint32Array; eot: Int32Array; batch: number; tokens: number } {
    if (this.disposed) throw new DisposedError('ClipTextEncoder');
    const c = this.config;
    const batch = batchOption ?? Math.max(1, Math.floor(ids.length / c.maxPositions));
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
    return { packed, eot: endTokenIndices(packed, batch, tokens), batch, tokens };
  }

  /** Writes the ids into the graph's inputs (the next submit of the graph reads them). */
  writeInputs(graph: CompiledGraph, p: { packed: Uint32Array; eot: Int32Array }): void {
    this.runtime.ctx.write(graph.input('ids').buffer, 0, p.packed);
    this.runtime.ctx.write(graph.input('eot').buffer, 0, new Uint32Array(p.eot));
  }

  /** Encodes and submits; outputs stay in the graph's buffers until its next run (no readback). */
  async encode(ids: ArrayLike<number>, o: EncodeClipOptions = {}): Promise<ClipEncoding> {
    const p = this.prepare(ids, o.batch);
    const graph = await this.compile({ batch: p.batch, tokens: p.tokens, extras: Boolean(o.extras), taps: Boolean(o.taps) });
    this.writeInputs(graph, p);
    graph.run();
    return encodingOf(graph, p.eot);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.graphs.release(this);
    if (this.ownsWeights) this.weights.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A CLIP graph's outputs as an encoding. */
export function encodingOf(graph: CompiledGraph, eot: Int32Array): ClipEncoding {
  const out = graph.outputs;
  const extra = (name: string) => (out.has(name) ? { [name]: out.get(name) as GpuTensor } : {});
  return { seq: graph.output('seq'), pooled: graph.output('pooled'), ...extra('lastHidden'), ...extra('pooledAlternative'), eot, taps: graph.taps };
}
