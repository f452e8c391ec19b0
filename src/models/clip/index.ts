// CLIP as a pure description: configuration, canonical keys, graph emission. The GPU encoder is the
// runtime's (src/runtime/clip.ts).
import type { Precision } from '../../shader/contract.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { checkClipTensors, type ClipConfig, type ClipOverrides, deriveClipConfig } from './config.js';
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
