import { CheckpointError } from '../errors.js';
import type { StorageFormat } from '../tensor/tensor.js';

/**
 * The one rule between a stored tensor and what the kernels bind. Rank-1 tensors (biases, norm
 * scales, per-channel vectors) are bound as `array<f32>`, so they live as f32 on the GPU; every
 * other tensor keeps its stored format (f32/f16/bf16/q8/q4) and layout and is decoded inside the
 * kernels' loads. The converter stores tensors in this format (so loading a converted model is a
 * straight copy), and the uploader applies the same rule to any other source (safetensors, ONNX,
 * diffusers folders, manifests written before the rule), converting rank-1 f16/bf16 on the way.
 */
export function bindFormat(name: string, shape: readonly number[], stored: StorageFormat): StorageFormat {
  if (shape.length > 1) return stored;
  if (stored === 'q8' || stored === 'q4') throw new CheckpointError(name, `a rank-1 tensor cannot be ${stored}`, 'f32, f16 or bf16', stored);
  return 'f32';
}
