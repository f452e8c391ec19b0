import { InvalidArgumentError } from '../errors.js';
import { GraphBuilder, isValue, type Value, valueBytes } from '../graph/builder.js';
import { planBufferSlots } from '../graph/plan.js';
import type { ClipConfig } from '../models/clip/config.js';
import { clipForward } from '../models/clip/forward.js';
import { planCaps, recordDenoiserPlan } from '../models/mmdit/memory-plan.js';
import { MAX_STEPS } from '../models/mmdit/shape.js';
import { bindFormat } from '../weights/format-rule.js';
import type { T5Config } from '../models/t5/config.js';
import { t5Forward } from '../models/t5/forward.js';
import { planBands } from '../models/vae/bands.js';
import { decoderMapKinds, vaeDecoderForward } from '../models/vae/decoder.js';
import type { Precision } from '../shader/contract.js';
import { type GpuTensor, storageBytes } from '../tensor/tensor.js';
import type { ComponentName, ModelManifest } from '../weights/manifest.js';
import { contextRows, modelFacts, type ResolvedModel } from './model.js';
import { SIZE_STEP } from './validate.js';

/**
 * "Will it fit" before any download: the model's manifest gives every tensor's shape and stored
 * format; each phase's graph (text encoders, the denoiser forward, the VAE decode) is recorded on
 * placeholder weights of those shapes and planned by the graph compiler's own slot planner. The
 * result is the GPU bytes per phase under both residencies, and the largest single binding against
 * the binding limit.
 */

export interface PlanMemoryOptions {
  readonly width?: number;
  readonly height?: number;
  readonly numImagesPerPrompt?: number;
  /** Guidance 1 plans without the uncond half (default: the model's guidance). */
  readonly guidanceScale?: number;
  readonly precision?: Precision;
  /** Plan with T5 (default: when the model has it). */
  readonly t5?: boolean;
  /** The device's limits (default WebGPU's: 128 MiB per binding, 256 MiB per buffer). */
  readonly limits?: { readonly maxStorageBufferBindingSize?: number; readonly maxBufferSize?: number };
  /** Plan halves held as f32, as the runtime does on CPU-emulation adapters (default false: a GPU). */
  readonly widenHalfWeights?: boolean;
}

export interface PhasePlan {
  /** Weights this phase's components hold on the GPU. */
  readonly weightBytes: number;
  /** Activation slots, inputs/outputs and uniforms of this phase's graphs. */
  readonly activationBytes: number;
}

export interface MemoryPlan {
  readonly model: string;
  readonly variant: string;
  readonly width: number;
  readonly height: number;
  readonly numImagesPerPrompt: number;
  readonly precision: Precision;
  readonly t5: boolean;
  readonly phases: { readonly text: PhasePlan; readonly denoise: PhasePlan; readonly decode: PhasePlan & { readonly bands: number } };
  /** Peak GPU bytes: everything resident (`all`), or per phase (`sequential`). */
  readonly peakBytes: { readonly all: number; readonly sequential: number };
  readonly largestBinding: { readonly bytes: number; readonly what: string; readonly limit: number };
  /** Whether every binding is within the limit. */
  readonly fits: boolean;
  /** What to lower when it does not fit. */
  readonly advice: string | null;
}

const PLACEHOLDER = Object.freeze({ label: 'placeholder' }) as unknown as GPUBuffer;
const UNIFORM_SLOT = 256;

/** The component's tensors as the uploader puts them on the GPU (the one format rule). */
function placeholders(m: ModelManifest, c: ComponentName, widenHalf: boolean): { weights: Map<string, GpuTensor>; bytes: number } {
  const weights = new Map<string, GpuTensor>();
  let bytes = 0;
  for (const [name, t] of Object.entries(m.components[c]?.tensors ?? {})) {
    const format = bindFormat(name, t.shape, t.format, { widenHalf });
    const rows = t.shape.length >= 2 ? t.shape.slice(0, -1).reduce((a, d) => a * d, 1) : 1;
    const k = t.shape.at(-1) ?? 1;
    const scales: GpuTensor | undefined = format === 'q8' ? { buffer: PLACEHOLDER, offset: 0, shape: [rows], format: 'f32', label: `${name}.scales` }
      : format === 'q4' ? { buffer: PLACEHOLDER, offset: 0, shape: [rows, k / 32], format: 'f16', label: `${name}.scales` } : undefined;
    const tensor: GpuTensor = { buffer: PLACEHOLDER, offset: 0, shape: t.shape, format, label: name, ...(scales ? { scales } : {}) };
    weights.set(name, tensor);
    bytes += storageBytes(t.shape, format) + (scales ? storageBytes(scales.shape, scales.format) : 0);
  }
  return { weights, bytes };
}

/** Activation bytes of a recorded graph (the compiler's slots, plus its non-temp values and uniforms), and its largest binding. */
function graphBytes(b: GraphBuilder, precision: Precision): { bytes: number; largest: number; what: string } {
  const slots = planBufferSlots(b, precision).slotBytes.reduce((a, n) => a + n, 0);
  let io = b.ops.length * UNIFORM_SLOT;
  for (const v of b.values as readonly Value[]) if (v.kind !== 'temp') io += valueBytes(v, precision);
  let largest = 0;
  let what = '';
  for (const op of b.ops) {
    for (const operand of op.bindings) {
      if (operand === null) continue;
      const bytes = isValue(operand) ? valueBytes(operand, precision) : storageBytes(operand.shape, operand.format);
      if (bytes > largest) {
        largest = bytes;
        what = `${op.label}: ${operand.label}`;
      }
    }
  }
  return { bytes: slots + io, largest, what };
}

/** The plan for a resolved model (see the module comment). */
export function planMemoryFor(model: ResolvedModel, o: PlanMemoryOptions = {}): MemoryPlan {
  const f = modelFacts(model);
  const m = model.manifest;
  const width = o.width ?? f.defaults.width;
  const height = o.height ?? f.defaults.height;
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < SIZE_STEP || v % SIZE_STEP !== 0 || v > f.maxSize) throw new InvalidArgumentError(name, `a multiple of ${SIZE_STEP} in ${SIZE_STEP}…${f.maxSize}`, v);
  }
  const images = o.numImagesPerPrompt ?? 1;
  if (!Number.isInteger(images) || images < 1 || images > 4) throw new InvalidArgumentError('numImagesPerPrompt', 'an integer in 1…4', images);
  const precision = o.precision ?? 'f32';
  const widen = o.widenHalfWeights === true;
  const t5 = (o.t5 ?? f.hasT5) && f.hasT5;
  const cfg = (o.guidanceScale ?? f.defaults.guidanceScale) !== 1;
  const rows = (cfg ? 2 : 1) * images;
  const bindingLimit = o.limits?.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
  const caps = planCaps(bindingLimit, o.limits?.maxBufferSize !== undefined ? { maxBufferSize: o.limits.maxBufferSize } : {});
  let largest = { bytes: 0, what: '' };
  const note = (bytes: number, what: string): void => {
    if (bytes > largest.bytes) largest = { bytes, what };
  };

  // Text: both CLIPs (and T5), in f32 as the reference runs them.
  let textWeights = 0;
  let textActivations = 0;
  for (const c of ['clip_l', 'clip_g'] as const) {
    const p = placeholders(m, c, widen);
    textWeights += p.bytes;
    const b = new GraphBuilder(caps, 'f32');
    const config = m.components[c]?.config as unknown as ClipConfig;
    const out = clipForward(b, p.weights, config, { batch: rows, tokens: 77, ids: b.input('ids', [rows * 77], 'u32'), eot: b.input('eot', [rows], 'u32') });
    b.output('seq', out.seq);
    b.output('pooled', out.pooled);
    const g = graphBytes(b, 'f32');
    textActivations += g.bytes;
    note(g.largest, `${c} ${g.what}`);
  }
  if (t5) {
    const p = placeholders(m, 't5', widen);
    textWeights += p.bytes;
    const b = new GraphBuilder(caps, 'f32');
    b.output('seq', t5Forward(b, p.weights, m.components.t5?.config as unknown as T5Config, { batch: rows, tokens: 77, ids: b.input('ids', [rows * 77], 'u32') }).seq);
    const g = graphBytes(b, 'f32');
    textActivations += g.bytes;
    note(g.largest, `t5 ${g.what}`);
  }

  // Denoise: the recorded forward, chunked for the binding limit as the compiled one is.
  const latentHeight = height / f.vaeScale;
  const latentWidth = width / f.vaeScale;
  const md = placeholders(m, 'mmdit', widen);
  const shape = { batch: images, latentHeight, latentWidth, ...contextRows(t5 ? 77 : null, f.t5Rows).shape, cfg };
  const db = recordDenoiserPlan(f.mmdit, shape, (name) => md.weights.get(name)?.format ?? 'f32', precision, caps);
  const dg = graphBytes(db, precision);
  const tokens = (latentHeight / f.mmdit.patch) * (latentWidth / f.mmdit.patch);
  const positionBytes = storageBytes([tokens, f.mmdit.hidden], md.weights.get('pos_embed')?.format ?? 'f32');
  // The schedule's sigmas sit beside the graph.
  const d = { weightBytes: md.bytes, positionBytes, activationBytes: dg.bytes + (MAX_STEPS + 1) * 4, ioBytes: 0 };
  note(dg.largest, `denoiser ${dg.what}`);

  // Decode: the banded VAE decode the runtime compiles.
  const v = placeholders(m, 'vae', widen);
  const plan = planBands(decoderMapKinds(f.vae), { batch: images, latentHeight, latentWidth, precision, maxBinding: bindingLimit });
  const b = new GraphBuilder(caps, precision);
  const latent = b.input('latent', [images, f.vae.latentChannels, latentHeight, latentWidth], 'f32');
  b.output('rgba', vaeDecoderForward(b, v.weights, f.vae, { latent, batch: images, latentHeight, latentWidth, plan }).rgba);
  const vg = graphBytes(b, precision);
  note(vg.largest, `vae ${vg.what}`);

  const denoiseWeights = d.weightBytes + d.positionBytes;
  const denoiseActivations = d.activationBytes + d.ioBytes;
  const allWeights = textWeights + denoiseWeights + v.bytes;
  const all = allWeights + Math.max(textActivations, denoiseActivations, vg.bytes);
  // Sequential: encoders alone, then the denoiser, then the denoiser (its latent) with the VAE.
  const sequential = Math.max(textWeights + textActivations, denoiseWeights + denoiseActivations, denoiseWeights + v.bytes + vg.bytes);
  const fits = largest.bytes <= bindingLimit;
  return {
    model: m.model,
    variant: m.variant,
    width,
    height,
    numImagesPerPrompt: images,
    precision,
    t5,
    phases: {
      text: { weightBytes: textWeights, activationBytes: textActivations },
      denoise: { weightBytes: denoiseWeights, activationBytes: denoiseActivations },
      decode: { weightBytes: v.bytes, activationBytes: vg.bytes, bands: plan.bounds.length - 1 },
    },
    peakBytes: { all, sequential },
    largestBinding: { bytes: largest.bytes, what: largest.what, limit: bindingLimit },
    fits,
    advice: fits ? null : `the largest binding (${largest.what}, ${largest.bytes} bytes) exceeds ${bindingLimit}: lower width/height or numImagesPerPrompt${t5 ? ', turn T5 off' : ''}, or use a device with a larger maxStorageBufferBindingSize`,
  };
}
