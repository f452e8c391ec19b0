import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, LimitExceededError } from '../errors.js';
import { alignUp, type GpuTensor, type StorageFormat, storageBytes } from '../tensor/tensor.js';
import { toFloat32 } from '../weights/decode.js';
import { DTYPE_FORMAT, type TensorInfo, type TensorSource } from '../weights/tensor-source.js';

/** Canonical tensor name → the tensor on the GPU. */
export type WeightMap = ReadonlyMap<string, GpuTensor>;

export interface UploadOptions {
  readonly signal?: AbortSignal;
  /** Tensors read from the source at once; bounds host memory on large checkpoints. */
  readonly concurrency?: number;
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * Uploads the tensors `names` (default: all) of `source` to the GPU, one buffer per tensor at
 * offset 0 (so every tensor is bindable on its own: offsets stay 256-aligned). Rank-1 tensors
 * (biases, norm scales) are decoded to f32 on the CPU, because kernels bind them as
 * `array<f32>`; every other tensor keeps its stored format (f32/f16/bf16/q8/q4) and layout, and
 * is decoded inside the kernels' loads. q8/q4 tensors carry their scales. On any failure the
 * buffers made so far are released.
 */
export async function uploadWeights(
  ctx: GpuContext,
  source: TensorSource,
  names?: Iterable<string>,
  options: UploadOptions = {},
): Promise<Map<string, GpuTensor>> {
  const wanted = names ? [...names] : [...source.tensors.keys()];
  const infos = wanted.map((name) => {
    const info = source.tensors.get(name);
    if (!info) throw new CheckpointError(name, `is not in ${source.origin}`);
    checkUploadable(ctx, info);
    return info;
  });
  const out = new Map<string, GpuTensor>();
  const concurrency = Math.max(1, options.concurrency ?? 4);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < infos.length) {
      const info = infos[next++] as TensorInfo;
      options.signal?.throwIfAborted();
      out.set(info.name, await uploadOne(ctx, source, info, options.signal));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, infos.length) }, worker));
  } catch (error) {
    releaseWeights(ctx, out);
    throw error;
  }
  // Keep the caller's order (Map iteration order), whatever order the uploads finished in.
  return new Map(wanted.map((name) => [name, out.get(name) as GpuTensor]));
}

/** Destroys the buffers of a weight map (and of their scales). Idempotent per buffer. */
export function releaseWeights(ctx: GpuContext, weights: ReadonlyMap<string, GpuTensor>): void {
  for (const tensor of weights.values()) {
    if (tensor.scales) ctx.destroyBuffer(tensor.scales.buffer);
    ctx.destroyBuffer(tensor.buffer);
  }
}

/** The format a tensor gets on the GPU: rank-1 → f32, everything else as stored. */
export function uploadFormat(info: TensorInfo): StorageFormat {
  return info.shape.length <= 1 ? 'f32' : DTYPE_FORMAT[info.dtype];
}

function checkUploadable(ctx: GpuContext, info: TensorInfo): void {
  const format = uploadFormat(info);
  if (info.shape.length <= 1 && (info.dtype === 'Q8' || info.dtype === 'Q4')) {
    throw new CheckpointError(info.name, `a rank-1 tensor cannot be ${info.dtype}`, 'F32, F16 or BF16', info.dtype);
  }
  const bytes = storageBytes(info.shape, format);
  if (bytes > ctx.caps.maxBufferSize) {
    throw new LimitExceededError('maxBufferSize', bytes, ctx.caps.maxBufferSize, `weight "${info.name}" ${JSON.stringify(info.shape)}`);
  }
}

async function uploadOne(ctx: GpuContext, source: TensorSource, info: TensorInfo, signal?: AbortSignal): Promise<GpuTensor> {
  const format = uploadFormat(info);
  const raw = await source.read(info.name, signal);
  const data = format === 'f32' && info.dtype !== 'F32' ? asBytes(toFloat32(raw, info.dtype, info.name)) : raw;
  const expected = storageBytes(info.shape, format);
  if (alignUp(data.byteLength, 4) !== expected) {
    throw new CheckpointError(info.name, 'has a byte length that does not match its shape and dtype', `${expected} bytes`, `${data.byteLength}`);
  }
  const tensor: GpuTensor = { buffer: writeBuffer(ctx, info.name, data), offset: 0, shape: info.shape, format, label: info.name };
  if (format !== 'q8' && format !== 'q4') return tensor;
  if (!source.readScales) throw new CheckpointError(info.name, `is ${info.dtype} but ${source.origin} has no scales`);
  const scaleBytes = await source.readScales(info.name, signal);
  const [rows, cols] = [info.shape[0] as number, info.shape.slice(1).reduce((p, d) => p * d, 1)];
  const scaleShape = format === 'q8' ? [rows] : [rows, cols / 32];
  const scaleFormat: StorageFormat = format === 'q8' ? 'f32' : 'f16';
  const scales: GpuTensor = {
    buffer: writeBuffer(ctx, `${info.name}.scales`, scaleBytes),
    offset: 0,
    shape: scaleShape,
    format: scaleFormat,
    label: `${info.name}.scales`,
  };
  return { ...tensor, scales };
}

function writeBuffer(ctx: GpuContext, label: string, bytes: Uint8Array): GPUBuffer {
  const buffer = ctx.createBuffer(label, alignUp(bytes.byteLength, 4), USAGE());
  const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
  ctx.write(buffer, 0, padded);
  return buffer;
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(alignUp(bytes.byteLength, 4));
  out.set(bytes);
  return out;
}

function asBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
