import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, LimitExceededError } from '../errors.js';
import type { EmbeddingTable } from '../kernels/embed.js';
import { type GpuTensor, storageBytes } from '../tensor/tensor.js';
import type { TensorSource } from '../weights/tensor-source.js';
import { releaseWeights, uploadFormat, uploadWeights, type WeightMap } from './upload.js';

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * Uploads a token table. One buffer when it fits `maxBufferSize` (the embed kernel cuts views at
 * the binding limit itself); otherwise row parts in buffers of their own, each within both
 * limits (T5-XXL's 32128×4096 table is 526 MB in f32, over many devices' buffer limit).
 */
export async function uploadTokenTable(ctx: GpuContext, source: TensorSource, name: string, signal?: AbortSignal): Promise<EmbeddingTable> {
  const info = source.tensors.get(name);
  if (!info) throw new CheckpointError(name, `is not in ${source.origin}`);
  const format = uploadFormat(info);
  if (info.shape.length !== 2) throw new CheckpointError(name, 'token table must be a matrix', '[vocab, D]', JSON.stringify(info.shape));
  if (storageBytes(info.shape, format) <= ctx.caps.maxBufferSize) {
    return (await uploadWeights(ctx, source, [name], signal ? { signal } : {})).get(name) as GpuTensor;
  }
  const [rows, dim] = info.shape as [number, number];
  const rowBytes = storageBytes([1, dim], format);
  const quantised = format === 'q8' || format === 'q4';
  const scaleRowBytes = format === 'q8' ? 4 : format === 'q4' ? (dim / 32) * 2 : 0;
  const limit = Math.min(ctx.caps.maxBufferSize, ctx.caps.maxStorageBufferBindingSize);
  const perPart = Math.floor(limit / rowBytes);
  if (perPart < 1) throw new LimitExceededError('maxBufferSize', rowBytes, limit, `one row of "${name}"`);
  const bytes = await source.read(name, signal);
  const scales = quantised && source.readScales ? await source.readScales(name, signal) : null;
  if (quantised && !scales) throw new CheckpointError(name, `is ${format} but ${source.origin} has no scales`);
  const parts = new Map<string, GpuTensor>();
  try {
    for (let start = 0; start < rows; start += perPart) {
      signal?.throwIfAborted();
      const n = Math.min(perPart, rows - start);
      const label = `${name}[${start}:${start + n}]`;
      const tensor: GpuTensor = { buffer: write(ctx, label, bytes.subarray(start * rowBytes, (start + n) * rowBytes)), offset: 0, shape: [n, dim], format, label };
      const part: GpuTensor = scales
        ? {
            ...tensor,
            scales: {
              buffer: write(ctx, `${label}.scales`, scales.subarray(start * scaleRowBytes, (start + n) * scaleRowBytes)),
              offset: 0,
              shape: format === 'q8' ? [n] : [n, dim / 32],
              format: format === 'q8' ? 'f32' : 'f16',
              label: `${label}.scales`,
            },
          }
        : tensor;
      parts.set(label, part);
    }
  } catch (error) {
    releaseWeights(ctx, parts);
    throw error;
  }
  return [...parts.values()];
}

/** Releases a table from `uploadTokenTable`. */
export function releaseTokenTable(ctx: GpuContext, table: EmbeddingTable): void {
  const parts: readonly GpuTensor[] = Array.isArray(table) ? table : [table as GpuTensor];
  releaseWeights(ctx, new Map(parts.map((t, i) => [String(i), t])) as WeightMap);
}

function write(ctx: GpuContext, label: string, bytes: Uint8Array): GPUBuffer {
  const size = Math.ceil(bytes.byteLength / 4) * 4;
  const buffer = ctx.createBuffer(label, size, USAGE());
  const padded = size === bytes.byteLength ? bytes : (() => {
    const out = new Uint8Array(size);
    out.set(bytes);
    return out;
  })();
  ctx.write(buffer, 0, padded);
  return buffer;
}
