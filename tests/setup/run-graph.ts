import type { DeviceCaps } from '../../src/gpu/features.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { compileGraph } from '../../src/graph/compile.js';
import type { Precision } from '../../src/shader/contract.js';
import type { GpuTensor, StorageFormat } from '../../src/tensor/tensor.js';
import { alignUp } from '../../src/tensor/tensor.js';
import { toHalf } from '../../src/tensor/half.js';
import { readTensor } from '../../src/tensor/read.js';
import { recordGpuRun, type TestGpu } from './gpu.js';

/** Uploads a weight from raw element bytes (already in `format`) and optional scales bytes. */
export function uploadWeight(gpu: TestGpu, label: string, shape: readonly number[], format: StorageFormat, bytes: Uint8Array, scales?: { shape: readonly number[]; format: StorageFormat; bytes: Uint8Array }): GpuTensor {
  const buffer = gpu.ctx.createBuffer(label, alignUp(bytes.byteLength, 4), GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
  gpu.ctx.write(buffer, 0, padTo4(bytes));
  const tensor: GpuTensor = { buffer, offset: 0, shape, format, label };
  if (!scales) return tensor;
  return { ...tensor, scales: uploadWeight(gpu, `${label}.scales`, scales.shape, scales.format, scales.bytes) };
}

export function f32Weight(gpu: TestGpu, label: string, shape: readonly number[], data: Float32Array): GpuTensor {
  return uploadWeight(gpu, label, shape, 'f32', new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function padTo4(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 4 === 0) return bytes;
  const out = new Uint8Array(alignUp(bytes.byteLength, 4));
  out.set(bytes);
  return out;
}

/**
 * Records a graph with `build`, compiles it, fills its inputs, runs it once and reads its
 * outputs back as f32 (the test path; models use the same compile and run).
 */
export async function runGraph(
  gpu: TestGpu,
  name: string,
  build: (b: GraphBuilder) => void,
  inputs: Readonly<Record<string, Float32Array | Uint32Array | Int32Array>>,
  precision: Precision = 'f32',
  /** Kernel choices are made for these capabilities (e.g. to run the GPU-class tiling here). */
  caps: DeviceCaps = gpu.ctx.caps,
): Promise<Record<string, Float32Array>> {
  const b = new GraphBuilder(caps, precision, true);
  build(b);
  const graph = await compileGraph(gpu.ctx, gpu.cache, b);
  try {
    for (const [key, data] of Object.entries(inputs)) {
      const t = graph.input(key);
      // Activations of an f16 graph are f16: convert float inputs on the way in.
      gpu.ctx.write(t.buffer, 0, t.format === 'f16' && data instanceof Float32Array ? toHalf(data) : data);
    }
    graph.run();
    const out: Record<string, Float32Array> = {};
    for (const [key, t] of [...graph.outputs, ...graph.taps]) out[key] = await readTensor(gpu.ctx, t);
    recordGpuRun(name);
    return out;
  } finally {
    graph.dispose();
  }
}
