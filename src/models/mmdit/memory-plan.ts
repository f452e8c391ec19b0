import { InvalidArgumentError } from '../../errors.js';
import type { DeviceCaps } from '../../gpu/features.js';
import { GraphBuilder, isValue, valueBytes } from '../../graph/builder.js';
import { planBufferSlots } from '../../graph/plan.js';
import type { Precision } from '../../shader/contract.js';
import { type GpuTensor, type StorageFormat, storageBytes } from '../../tensor/tensor.js';
import { defaultQuantRule } from '../../weights/quant-rule.js';
import { expectedTensors, type MmditConfig } from './config.js';
import { mmditForward } from './forward.js';
import { type DenoiserShape, MAX_STEPS } from './shape.js';

/** The user-facing weight variants (DESIGN §9). */
export type WeightVariant = 'f32' | 'f16' | 'int8' | 'int4';

/** One uniform slot per dispatch, as compileGraph packs them. */
const UNIFORM_SLOT = 256;

/** Stands in for a GPU buffer: plans record ops on shapes only and never touch a device. */
const PLACEHOLDER_BUFFER = Object.freeze({ label: 'placeholder' }) as unknown as GPUBuffer;

/** The GPU format of a canonical denoiser tensor in a variant (rank 1 → f32, as the uploader does). */
export function variantFormat(name: string, shape: readonly number[], variant: WeightVariant): StorageFormat {
  if (shape.length <= 1 || variant === 'f32') return 'f32';
  const k = shape.slice(1).reduce((p, d) => p * d, 1);
  if (variant === 'int8' && k % 4 === 0 && defaultQuantRule(name, shape, 'mmdit')) return 'q8';
  if (variant === 'int4' && k % 32 === 0 && defaultQuantRule(name, shape, 'mmdit')) return 'q4';
  return 'f16';
}

/** The GPU format of each canonical tensor: by variant (`variantFormat`) or as a checkpoint stores it. */
export type FormatOf = (name: string, shape: readonly number[]) => StorageFormat;

/**
 * Shape-only weights of a configuration: every canonical tensor with its format (a variant, or
 * the formats of a checkpoint about to be uploaded) and scales, on a placeholder buffer. Only for
 * recording graphs that are planned, never compiled.
 */
export function placeholderWeights(config: MmditConfig, formats: WeightVariant | FormatOf): Map<string, GpuTensor> {
  const formatOf: FormatOf = typeof formats === 'string' ? (name, shape) => variantFormat(name, shape, formats) : formats;
  const out = new Map<string, GpuTensor>();
  for (const [name, shape] of expectedTensors(config)) {
    const format = formatOf(name, shape);
    const t: GpuTensor = { buffer: PLACEHOLDER_BUFFER, offset: 0, shape, format, label: name };
    const rows = shape[0] as number;
    const scales: GpuTensor | undefined = format === 'q8'
      ? { buffer: PLACEHOLDER_BUFFER, offset: 0, shape: [rows], format: 'f32', label: `${name}.scales` }
      : format === 'q4'
        ? { buffer: PLACEHOLDER_BUFFER, offset: 0, shape: [rows, (shape[1] as number) / 32], format: 'f16', label: `${name}.scales` }
        : undefined;
    out.set(name, scales ? { ...t, scales } : t);
  }
  return out;
}

/** Capabilities a plan is made for: a GPU-class adapter with the given binding cap. */
export function planCaps(maxStorageBufferBindingSize: number, overrides: Partial<DeviceCaps> = {}): DeviceCaps {
  return {
    f16: false,
    subgroups: false,
    timestampQuery: false,
    isFallbackAdapter: false,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxStorageBufferBindingSize,
    maxBufferSize: Number.MAX_SAFE_INTEGER,
    maxComputeWorkgroupsPerDimension: 65535,
    ...overrides,
  };
}

/**
 * The denoiser forward of one shape, recorded on placeholder weights (shapes only): the same
 * dispatches, in the same order, as the graph compiled from real weights of those formats.
 */
export function recordDenoiserPlan(config: MmditConfig, shape: DenoiserShape, formats: WeightVariant | FormatOf, precision: Precision, caps: DeviceCaps): GraphBuilder {
  const weights = placeholderWeights(config, formats);
  const tokens = (shape.latentHeight / config.patch) * (shape.latentWidth / config.patch);
  const posFormat = weights.get('pos_embed')?.format ?? 'f32';
  const pos: GpuTensor = { buffer: PLACEHOLDER_BUFFER, offset: 0, shape: [tokens, config.hidden], format: posFormat, label: 'pos_embed crop' };
  const b = new GraphBuilder(caps, precision);
  const batch = shape.cfg ? 2 * shape.batch : shape.batch;
  mmditForward(b, weights, config, {
    batch, latentBatch: shape.batch, latentHeight: shape.latentHeight, latentWidth: shape.latentWidth, contextLength: shape.contextLength, ...(shape.lastContextRowCount !== undefined ? { lastContextRowCount: shape.lastContextRowCount } : {}), steps: MAX_STEPS,
  }, pos);
  return b;
}

export interface DenoiserMemoryPlan {
  /** Weights on the GPU (with q8/q4 scales; rank-1 tensors as f32). */
  readonly weightBytes: number;
  /** The position table crop bound by the patch embedding. */
  readonly positionBytes: number;
  /** Shared activation slots of the compiled forward. */
  readonly activationBytes: number;
  /** Inputs, outputs, constants and step state of the forward, sigmas and the uniform arena. */
  readonly ioBytes: number;
  /** Everything above: the denoiser's GPU memory while it runs. */
  readonly peakBytes: number;
  /** The largest single binding of any dispatch (weights and activations). */
  readonly largestBindingBytes: number;
  readonly largestBinding: string;
  readonly dispatches: number;
}

export interface PlanMemoryOptions {
  readonly variant: WeightVariant;
  /** Compute precision (default f32). */
  readonly precision?: Precision;
  /** The binding cap the graph is chunked for (default 128 MiB, WebGPU's default limit). */
  readonly maxStorageBufferBindingSize?: number;
}

/**
 * GPU memory of the denoiser for one shape, from its recorded graph and the compiler's slot plan
 * (the same lifetimes and greedy-by-size slots as compileGraph), before any weight is downloaded.
 */
export function planDenoiserMemory(config: MmditConfig, shape: DenoiserShape, o: PlanMemoryOptions): DenoiserMemoryPlan {
  if (!['f32', 'f16', 'int8', 'int4'].includes(o.variant)) throw new InvalidArgumentError('variant', 'f32, f16, int8 or int4', o.variant);
  const precision = o.precision ?? 'f32';
  const cap = o.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
  const b = recordDenoiserPlan(config, shape, o.variant, precision, planCaps(cap));
  let weightBytes = 0;
  for (const t of placeholderWeights(config, o.variant).values()) {
    weightBytes += storageBytes(t.shape, t.format) + (t.scales ? storageBytes(t.scales.shape, t.scales.format) : 0);
  }
  const tokens = (shape.latentHeight / config.patch) * (shape.latentWidth / config.patch);
  const positionBytes = storageBytes([tokens, config.hidden], variantFormat('pos_embed', [1, 1, 1], o.variant));
  const slots = planBufferSlots(b, precision);
  const activationBytes = slots.slotBytes.reduce((p, n) => p + n, 0);
  let ioBytes = (MAX_STEPS + 1) * 4 + b.ops.length * UNIFORM_SLOT;
  for (const v of b.values) if (v.kind !== 'temp') ioBytes += valueBytes(v, precision);
  let largestBindingBytes = 0;
  let largestBinding = '';
  for (const op of b.ops) {
    for (const operand of op.bindings) {
      if (operand === null) continue;
      const bytes = isValue(operand) ? valueBytes(operand, precision) : storageBytes(operand.shape, operand.format);
      if (bytes > largestBindingBytes) {
        largestBindingBytes = bytes;
        largestBinding = `${op.label}: ${operand.label}`;
      }
    }
  }
  return {
    weightBytes,
    positionBytes,
    activationBytes,
    ioBytes,
    peakBytes: weightBytes + positionBytes + activationBytes + ioBytes,
    largestBindingBytes,
    largestBinding,
    dispatches: b.ops.length,
  };
}
