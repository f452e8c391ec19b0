import type { StorageFormat } from '../tensor/tensor.js';

/** A checkpoint's element type as files name it (safetensors dtypes; q8/q4 from our manifests). */
export type TensorDtype = 'F32' | 'F16' | 'BF16' | 'Q8' | 'Q4';

/** One tensor of a checkpoint, described without its bytes. */
export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: TensorDtype;
  /** Size of the element data in bytes (without scales). */
  readonly byteLength: number;
}

/**
 * A set of named tensors whose bytes are read on demand: a safetensors file, an ONNX file, a
 * converted manifest, or a canonicalised view of any of these. Reading one tensor never needs the
 * others in memory.
 */
export interface TensorSource {
  /** Where the tensors come from, for error messages (a file name or URL). */
  readonly origin: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The raw little-endian element bytes, exactly as stored. */
  read(name: string, signal?: AbortSignal): Promise<Uint8Array>;
  /** Q8: f32 per row; Q4: f16 per group of 32 along the last dimension. */
  readScales?(name: string, signal?: AbortSignal): Promise<Uint8Array>;
}

export const DTYPE_FORMAT: Readonly<Record<TensorDtype, StorageFormat>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  Q8: 'q8',
  Q4: 'q4',
};
