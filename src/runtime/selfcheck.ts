import type { GpuContext } from '../gpu/device.js';
import { GraphBuilder, type Value } from '../graph/builder.js';
import { compileGraph } from '../graph/compile.js';
import { attention, seq } from '../kernels/attention.js';
import { layerNormModulate } from '../kernels/layer-norm.js';
import { linear } from '../kernels/matmul.js';
import { philox4x32 } from '../sampling/noise.js';
import type { PipelineCache } from '../shader/pipeline-cache.js';
import { readTensor } from '../tensor/read.js';
import type { GpuTensor } from '../tensor/tensor.js';

export interface SelfCheckResult {
  readonly name: string;
  readonly pass: boolean;
  readonly maxAbs: number;
  readonly ms: number;
}

/**
 * Deterministic values in [-1, 1), from the sampler's own Philox stream (counter = element / 4,
 * key = seed): the check needs no randomness, only spread, and one generator is enough for the engine.
 */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const block = new Uint32Array(4);
  const key = [seed, 0];
  for (let i = 0; i < n; i += 4) {
    philox4x32([i / 4, 0, 0, 0], key, block);
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (block[j] as number) / 2147483648 - 1;
  }
  return out;
}

function maxAbs(a: Float32Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs((a[i] ?? NaN) - (b[i] as number)) || (Number.isNaN(a[i]) ? Infinity : 0));
  return m;
}

async function runCheck(
  ctx: GpuContext,
  cache: PipelineCache,
  name: string,
  tolerance: number,
  inputs: Record<string, Float32Array>,
  build: (b: GraphBuilder, input: (name: string, shape: number[]) => Value) => Value,
  reference: Float64Array,
): Promise<SelfCheckResult> {
  const start = performance.now();
  const b = new GraphBuilder(ctx.caps, 'f32');
  b.output('out', build(b, (n, shape) => b.input(n, shape, 'f32')));
  const graph = await compileGraph(ctx, cache, b);
  try {
    for (const [key, data] of Object.entries(inputs)) ctx.write(graph.input(key).buffer, 0, data);
    graph.run();
    const got = await readTensor(ctx, graph.output('out'));
    const error = maxAbs(got, reference);
    return { name, pass: error <= tolerance, maxAbs: error, ms: performance.now() - start };
  } finally {
    graph.dispose();
  }
}

/**
 * Runs the core kernels (matmul, attention, adaLN LayerNorm) on this device against float64 CPU
 * results: a quick way to tell whether an adapter computes what the engine expects.
 */
export async function runSelfCheck(ctx: GpuContext, cache: PipelineCache): Promise<SelfCheckResult[]> {
  const results: SelfCheckResult[] = [];
  {
    const [m, n, k] = [37, 45, 67];
    const x = values(m * k, 1);
    const w = values(n * k, 2);
    const weight = upload(ctx, 'selfcheck.w', [n, k], w);
    const ref = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += (x[i * k + t] as number) * (w[j * k + t] as number);
      ref[i * n + j] = s;
    }
    try {
      results.push(await runCheck(ctx, cache, `matmul ${m}×${n}×${k}`, 1e-4, { x }, (b, input) => linear(b, input('x', [m, k]), weight), ref));
    } finally {
      ctx.destroyBuffer(weight.buffer);
    }
  }
  {
    const [L, heads, dh] = [29, 2, 64];
    const W = heads * dh;
    const qkv = values(L * 3 * W, 3);
    const ref = new Float64Array(L * W);
    for (let h = 0; h < heads; h++) for (let i = 0; i < L; i++) {
      const s = new Float64Array(L);
      let max = -Infinity;
      for (let j = 0; j < L; j++) {
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += (qkv[i * 3 * W + h * dh + d] as number) * (qkv[j * 3 * W + W + h * dh + d] as number);
        s[j] = dot / 8;
        max = Math.max(max, s[j] as number);
      }
      let sum = 0;
      for (let j = 0; j < L; j++) sum += s[j] = Math.exp((s[j] as number) - max);
      for (let d = 0; d < dh; d++) {
        let acc = 0;
        for (let j = 0; j < L; j++) acc += (s[j] as number) * (qkv[j * 3 * W + 2 * W + h * dh + d] as number);
        ref[i * W + h * dh + d] = acc / sum;
      }
    }
    results.push(await runCheck(ctx, cache, `attention L=${L} heads=${heads} dh=${dh}`, 1e-5, { qkv }, (b, input) => {
      const x = input('qkv', [1, L, 3 * W]);
      return attention(b, { q: seq(x, 0), k: seq(x, W), v: seq(x, 2 * W), batch: 1, heads, headDim: dh, qLen: L, kvLen: L, scale: 1 / 8 });
    }, ref));
  }
  {
    const [rows, cols] = [9, 96];
    const x = values(rows * cols, 4);
    const mod = values(2 * cols, 5);
    const ref = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let mean = 0;
      for (let c = 0; c < cols; c++) mean += x[r * cols + c] as number;
      mean /= cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += ((x[r * cols + c] as number) - mean) ** 2;
      const inv = 1 / Math.sqrt(v / cols + 1e-6);
      for (let c = 0; c < cols; c++) ref[r * cols + c] = ((x[r * cols + c] as number) - mean) * inv * (1 + (mod[cols + c] as number)) + (mod[c] as number);
    }
    results.push(await runCheck(ctx, cache, `adaLN LayerNorm ${rows}×${cols}`, 1e-5, { x, mod }, (b, input) =>
      layerNormModulate(b, input('x', [rows, cols]), { mod: input('mod', [1, 2 * cols]), shiftCol: 0, scaleCol: cols, tokensPerBatch: rows, eps: 1e-6 }), ref));
  }
  return results;
}

function upload(ctx: GpuContext, label: string, shape: readonly number[], data: Float32Array): GpuTensor {
  const buffer = ctx.createBuffer(label, data.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  ctx.write(buffer, 0, data);
  return { buffer, offset: 0, shape, format: 'f32', label };
}
