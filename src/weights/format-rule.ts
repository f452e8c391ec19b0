import { CheckpointError } from '../errors.js';
import type { StorageFormat } from '../tensor/tensor.js';

export interface BindFormatOptions {
  /**
   * Hold f16/bf16 tensors of any rank as f32 (decoded exactly at load). For CPU-emulation
   * adapters, where memory is plentiful and the exact half decode inside the matmul loads costs
   * about 3× its arithmetic; GPUs keep halves (bandwidth and memory matter there).
   */
  readonly widenHalf?: boolean;
}

/**
 * The one rule between a stored tensor and what the kernels bind. Rank-1 tensors (biases, norm
 * scales, per-channel vectors) are bound as `array<f32>`, so they live as f32 on the GPU; every
 * other tensor keeps its stored format (f32/f16/bf16/q8/q4) and layout and is decoded inside the
 * kernels' loads, unless `widenHalf` holds halves as f32. The converter stores tensors in this
 * format (so loading a converted model is a straight copy), and the uploader applies the same rule
 * to any other source (safetensors, ONNX, diffusers folders, manifests written before the rule),
 * converting f16/bf16 pieces on the way where the rule says f32.
 */
export function bindFormat(name: string, shape: readonly number[], stored: StorageFormat, o: BindFormatOptions = {}): StorageFormat {
  if (shape.length > 1) return o.widenHalf && (stored === 'f16' || stored === 'bf16') ? 'f32' : stored;
  if (stored === 'q8' || stored === 'q4') throw new CheckpointError(name, `a rank-1 tensor cannot be ${stored}`, 'f32, f16 or bf16', stored);
  return 'f32';
}
