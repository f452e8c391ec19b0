// The SD3 VAE as a pure description: configuration, canonical keys, band planning, graph emission.
// The GPU component is the runtime's (src/runtime/vae.ts).
import type { Precision } from '../../shader/contract.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { checkTensorSet } from '../canonical-view.js';
import { deriveVaeConfig, expectedVaeTensors, type VaeConfig, type VaeOverrides } from './config.js';
import { canonicalVaeSource, type VaeKeyOptions, type VaeLayout } from './keys.js';

export { type BandLayoutInfo, type BandPlan, bandLayoutOf, type FeatureMap, joinBands, outputMap, planBands } from './bands.js';
export type { RgbaImage } from '../../tensor/image.js';
export { deriveVaeConfig, expectedVaeTensors, SD3_VAE_DEFAULTS, type VaeConfig, type VaeOverrides } from './config.js';
export { decoderMapKinds, vaeDecoderForward, vaeScale } from './decoder.js';
export { encoderMapKinds, vaeEncoderForward } from './encoder.js';
export { type CanonicalVae, canonicalVaeSource, reorderConv, type VaeKeyOptions, type VaeLayout } from './keys.js';

/**
 * The VAE of a checkpoint under canonical names with its configuration, every tensor checked
 * (missing, unexpected, mis-shaped → CheckpointError naming the checkpoint key). No GPU work.
 */
export function openVaeCheckpoint(source: TensorSource, o: VaeKeyOptions & VaeOverrides = {}): { canonical: TensorSource; config: VaeConfig; layout: VaeLayout } {
  const canonical = canonicalVaeSource(source, o);
  const config = deriveVaeConfig(canonical.source.tensors, o);
  checkTensorSet(canonical.source.tensors, expectedVaeTensors(config), canonical.describe);
  return { canonical: canonical.source, config, layout: canonical.layout };
}

export interface VaeShape {
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  /** Keep the per-block intermediates readable (`readTap`). */
  readonly taps?: boolean;
  /** Split into at least this many row bands even when fewer fit (tests). */
  readonly minBands?: number;
}

export interface VaeDecodeShape extends VaeShape {
  /** Keep the float image (before the uint8 conversion) readable without keeping every tap. */
  readonly floatImage?: boolean;
}

export interface LoadVaeOptions extends VaeKeyOptions, VaeOverrides {
  /** Compute precision; `'f16'` needs shader-f16 (default `'f32'`). */
  readonly precision?: Precision;
  readonly signal?: AbortSignal;
}
