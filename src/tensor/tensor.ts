/**
 * Tensors on the GPU. A tensor is a view: a buffer, a byte offset, a shape and a storage format.
 * Weights keep the layout and format the checkpoint (or converter) gave them; activations are
 * row-major `[batch, tokens, channels]` in the compute precision.
 */
export type StorageFormat = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4';

export interface GpuTensor {
  readonly buffer: GPUBuffer;
  /** Byte offset of element 0; a multiple of 256 whenever the tensor is bound on its own. */
  readonly offset: number;
  readonly shape: readonly number[];
  readonly format: StorageFormat;
  readonly label: string;
  /** q8: f32 `[N]` (one per output row); q4: f16 `[N, K/32]` (one per group of 32 along K). */
  readonly scales?: GpuTensor;
}

/** Integer codes of storage formats, as the `W_FORMAT` override constants of the shaders use them. */
export const FORMAT_CODE: Readonly<Record<StorageFormat, number>> = { f32: 0, f16: 1, bf16: 2, q8: 3, q4: 4 };

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes a tensor of this shape occupies in this format (without its scales), rounded up to 4. */
export function storageBytes(shape: readonly number[], format: StorageFormat): number {
  const n = elementCount(shape);
  const bits = { f32: 32, f16: 16, bf16: 16, q8: 8, q4: 4 }[format];
  return Math.ceil((n * bits) / 8 / 4) * 4;
}

/** Alignment of bindable offsets (WebGPU's default `minStorageBufferOffsetAlignment`). */
export const BINDING_ALIGNMENT = 256;

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
