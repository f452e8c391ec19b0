import type { GpuContext } from '../../gpu/device.js';
import { CheckpointError, DisposedError, InvalidArgumentError } from '../../errors.js';
import type { Precision } from '../../shader/contract.js';
import { PipelineCache } from '../../shader/pipeline-cache.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { releaseWeights, uploadWeights } from '../upload.js';
import type { MmditConfig } from './config.js';
import { DenoiserGraph, type DenoiserShape } from './graph.js';
import { canonicalizeMmdit, type MmditLayout } from './keys.js';

export type { MmditConfig } from './config.js';
export { DenoiserGraph, MAX_STEPS, type DenoiserShape } from './graph.js';
export { canonicalizeMmdit, detectLayout, type CanonicalMmdit, type MmditLayout } from './keys.js';

export interface LoadDenoiserOptions {
  /** Compute precision; `'f16'` needs the adapter's shader-f16 (default `'f32'`). */
  readonly precision?: Precision;
  /** Share pipelines with other components (default: a cache of the denoiser's own). */
  readonly cache?: PipelineCache;
  readonly signal?: AbortSignal;
}

/**
 * Loads an MM-DiT checkpoint (original or diffusers layout, F32/F16/BF16, or a converted
 * manifest with q8/q4 matrices). The checkpoint is canonicalised and checked — every missing,
 * unexpected or mis-shaped tensor is a CheckpointError naming its key — before anything is
 * uploaded.
 */
export async function loadDenoiser(ctx: GpuContext, checkpoint: TensorSource, o: LoadDenoiserOptions = {}): Promise<Denoiser> {
  const precision = o.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') throw new InvalidArgumentError('precision', '"f32" or "f16"', precision);
  if (precision === 'f16' && !ctx.caps.f16) throw new InvalidArgumentError('precision', '"f32" (this adapter lacks shader-f16)', precision);
  const canonical = canonicalizeMmdit(checkpoint);
  const pos = canonical.source.tensors.get('pos_embed');
  if (pos && !['F32', 'F16', 'BF16'].includes(pos.dtype)) {
    throw new CheckpointError('pos_embed', 'the position table must be stored as F32, F16 or BF16', 'F32 | F16 | BF16', pos.dtype);
  }
  ctx.assertUsable();
  const weights = await uploadWeights(ctx, canonical.source, undefined, o.signal ? { signal: o.signal } : {});
  return new Denoiser(ctx, o.cache ?? new PipelineCache(ctx), canonical.config, canonical.layout, weights, precision);
}

/** A loaded denoiser: weights on the GPU, graphs compiled per shape and cached. */
export class Denoiser {
  private disposed = false;
  private readonly graphs = new Map<string, Promise<DenoiserGraph>>();

  constructor(
    private readonly ctx: GpuContext,
    private readonly cache: PipelineCache,
    readonly config: MmditConfig,
    readonly layout: MmditLayout,
    private readonly weights: Map<string, GpuTensor>,
    readonly precision: Precision,
  ) {}

  /** The forward for one shape, compiled once (cached by shape; reuse it for every step and call). */
  compile(shape: DenoiserShape): Promise<DenoiserGraph> {
    if (this.disposed) return Promise.reject(new DisposedError('Denoiser'));
    try {
      checkShape(this.config, shape);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = `${shape.batch}|${shape.latentHeight}|${shape.latentWidth}|${shape.contextLength}|${shape.cfg}|${shape.taps === true}`;
    let graph = this.graphs.get(key);
    if (!graph) {
      graph = DenoiserGraph.create(this.ctx, this.cache, this.weights, this.config, this.precision, shape, () => this.graphs.delete(key));
      this.graphs.set(key, graph);
      graph.catch(() => this.graphs.delete(key));
    }
    return graph;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const graph of this.graphs.values()) void graph.then((g) => g.dispose(), () => undefined);
    this.graphs.clear();
    releaseWeights(this.ctx, this.weights);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** MODEL_SPEC §3.7 and DESIGN §11: rejected before any GPU work, naming the value and the range. */
function checkShape(c: MmditConfig, s: DenoiserShape): void {
  const posInt = (name: string, v: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new InvalidArgumentError(name, `an integer in 1…${max}`, v);
  };
  posInt('batch', s.batch, 64);
  posInt('contextLength', s.contextLength, 65536);
  const max = c.patch * c.posEmbedMaxSize;
  for (const [name, v] of [['latentHeight', s.latentHeight], ['latentWidth', s.latentWidth]] as const) {
    if (!Number.isInteger(v) || v < c.patch || v % c.patch !== 0 || v > max) {
      throw new InvalidArgumentError(name, `a positive multiple of the patch size ${c.patch} up to ${max} (patch × pos_embed_max_size ${c.posEmbedMaxSize})`, v);
    }
  }
  if (typeof s.cfg !== 'boolean') throw new InvalidArgumentError('cfg', 'true or false', s.cfg);
}

/** Shapes of one forward call's tensors in the checkpoint's layout (MODEL_SPEC §3). */
export interface ForwardInputShapes {
  readonly x: readonly number[];
  readonly t: readonly number[];
  readonly context: readonly number[];
  readonly y: readonly number[];
}

/**
 * MODEL_SPEC §3.7: checks a forward call's tensors against the configuration before any GPU work
 * and returns the compile shape; errors name the tensor, the value and the allowed range.
 */
export function checkForwardInputs(c: MmditConfig, s: ForwardInputShapes): DenoiserShape {
  const dims = (name: string, shape: readonly number[], rank: number, what: string) => {
    if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new InvalidArgumentError(`${name} shape`, what, shape);
  };
  dims('x', s.x, 4, '[B, C, Hl, Wl]');
  dims('t', s.t, 1, '[B]');
  dims('context', s.context, 3, '[B, L, D]');
  dims('y', s.y, 2, '[B, A]');
  const [batch, channels, latentHeight, latentWidth] = s.x as [number, number, number, number];
  if (channels !== c.inChannels) throw new InvalidArgumentError('x channels (dim 1)', `${c.inChannels} (from x_embedder.proj.weight)`, channels);
  if (s.context[2] !== c.contextDim) throw new InvalidArgumentError('context width (dim 2)', `${c.contextDim} (from context_embedder.weight)`, s.context[2]);
  if (s.y[1] !== c.pooledDim) throw new InvalidArgumentError('y width (dim 1)', `${c.pooledDim} (from y_embedder.mlp.0.weight)`, s.y[1]);
  for (const [name, shape] of [['t', s.t], ['context', s.context], ['y', s.y]] as const) {
    if (shape[0] !== batch) throw new InvalidArgumentError(`${name} batch (dim 0)`, `${batch}, the batch of x`, shape[0]);
  }
  const shape: DenoiserShape = { batch, latentHeight, latentWidth, contextLength: s.context[1] as number, cfg: false };
  checkShape(c, shape);
  return shape;
}

