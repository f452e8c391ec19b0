import { CheckpointError, DisposedError, InvalidArgumentError } from '../errors.js';
import type { MmditConfig } from '../models/mmdit/config.js';
import { canonicalizeMmdit, type MmditLayout } from '../models/mmdit/keys.js';
import { checkDenoiserShape, type DenoiserShape, denoiserShapeKey } from '../models/mmdit/shape.js';
import type { Precision } from '../shader/contract.js';
import { prewarmPipelines } from '../graph/prewarm.js';
import { recordDenoiserPlan } from '../models/mmdit/memory-plan.js';
import { bindFormat } from '../weights/format-rule.js';
import { DTYPE_FORMAT, type TensorInfo, type TensorSource } from '../weights/tensor-source.js';
import type { Component } from './component.js';
import { DenoiserGraph } from './denoiser-graph.js';
import type { Runtime } from './runtime.js';
import type { WeightMap } from './weight-map.js';
import { loadResident, type WeightsInput } from './weights.js';

export interface LoadDenoiserOptions {
  /** Compute precision; `'f16'` needs the adapter's shader-f16 (default `'f32'`). */
  readonly precision?: Precision;
  readonly signal?: AbortSignal;
  /**
   * Shapes to compile for: their pipelines are created (in parallel) while the weights upload,
   * from the checkpoint's header alone, so a later `compile` of these shapes finds them cached
   * and costs no wall time of its own.
   */
  readonly prewarm?: readonly DenoiserShape[];
}

/** The precision option checked before any GPU work. */
export function checkPrecision(rt: Runtime, precision: unknown): Precision {
  if (precision !== 'f32' && precision !== 'f16') throw new InvalidArgumentError('precision', '"f32" or "f16"', precision);
  if (precision === 'f16' && !rt.ctx.caps.f16) throw new InvalidArgumentError('precision', '"f32" (this adapter lacks shader-f16)', precision);
  return precision;
}

/**
 * Loads an MM-DiT: from weights already uploaded, a converted model's component (verified
 * shards), or a checkpoint (original or diffusers layout, F32/F16/BF16). The tensors are
 * canonicalised and checked — every missing, unexpected or mis-shaped tensor is a CheckpointError
 * naming its key — before anything is uploaded.
 */
export async function loadDenoiser(rt: Runtime, input: WeightsInput, o: LoadDenoiserOptions = {}): Promise<Denoiser> {
  const precision = checkPrecision(rt, o.precision ?? 'f32');
  rt.assertUsable();
  // The layout is the one the input was stored in: the first reading, before any upload (the
  // uploaded weights are always canonical).
  let layout: MmditLayout | null = null;
  let prewarm: Promise<void> | null = null;
  const open = (source: TensorSource) => {
    const c = canonicalizeMmdit(source);
    layout ??= c.layout;
    const pos = c.source.tensors.get('pos_embed');
    if (pos && !['F32', 'F16', 'BF16'].includes(pos.dtype)) {
      throw new CheckpointError('pos_embed', 'the position table must be stored as F32, F16 or BF16', 'F32 | F16 | BF16', pos.dtype);
    }
    if (o.prewarm?.length && !prewarm) {
      for (const shape of o.prewarm) checkDenoiserShape(c.config, shape);
      prewarm = prewarmDenoiser(rt, c.config, c.source.tensors, precision, o.prewarm);
      // Awaited after the upload; until then a failure must not surface as unhandled.
      prewarm.catch(() => undefined);
    }
    return { canonical: c.source, config: c.config };
  };
  return loadResident(
    rt,
    input,
    open,
    async (config, weights, owned) => {
      if (prewarm) await prewarm;
      return new Denoiser(rt, config, layout ?? 'canonical', weights, owned, precision);
    },
    o.signal ? { signal: o.signal } : {},
  );
}

/**
 * Creates the pipelines of the denoiser forward for `shapes`, recorded on placeholder weights in
 * the formats the uploader will give the checkpoint's tensors (the same dispatches as the graph
 * compiled later), without waiting for any weight.
 */
async function prewarmDenoiser(rt: Runtime, config: MmditConfig, tensors: ReadonlyMap<string, TensorInfo>, precision: Precision, shapes: readonly DenoiserShape[]): Promise<void> {
  const formatOf = (name: string, shape: readonly number[]) => {
    const info = tensors.get(name);
    return info ? bindFormat(name, shape, DTYPE_FORMAT[info.dtype], { widenHalf: rt.widenHalfWeights }) : 'f32';
  };
  await Promise.all(shapes.map((shape) => prewarmPipelines(rt.pipelines, recordDenoiserPlan(config, shape, formatOf, precision, rt.ctx.caps))));
}

/** A loaded denoiser: weights on the GPU, one graph per shape in the runtime's graph cache. */
export class Denoiser implements Component<DenoiserShape, DenoiserGraph> {
  readonly kind = 'denoiser';
  private disposed = false;

  constructor(
    readonly runtime: Runtime,
    readonly config: MmditConfig,
    /** The layout the checkpoint was stored in (`canonical` for converted models). */
    readonly layout: MmditLayout,
    readonly weights: WeightMap,
    private readonly ownsWeights: boolean,
    readonly precision: Precision,
  ) {}

  /** The forward for one shape, compiled once per shape (reuse it for every step and call). */
  compile(shape: DenoiserShape): Promise<DenoiserGraph> {
    if (this.disposed) return Promise.reject(new DisposedError('Denoiser'));
    try {
      checkDenoiserShape(this.config, shape);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.runtime.graphs.get(this, `denoiser|${denoiserShapeKey(shape)}`, () =>
      DenoiserGraph.create(this.runtime, this, this.weights, this.config, this.precision, shape),
    );
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
