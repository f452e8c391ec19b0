// T5 as a pure description: configuration, canonical keys, graph emission. The GPU encoder is the
// runtime's (src/runtime/t5.ts).
import type { GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { checkT5Tensors, deriveT5Config, type T5Config, type T5Overrides } from './config.js';
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
