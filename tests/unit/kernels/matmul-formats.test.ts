import { describe, expect, it } from 'vitest';
import { linear } from '../../../src/kernels/matmul.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { toHalf } from '../../../src/tensor/half.js';
import type { StorageFormat } from '../../../src/tensor/tensor.js';
import { dequantizeQ4, dequantizeQ8, quantizeQ4, quantizeQ8 } from '../../../src/weights/quantize.js';
import { expectClose } from '../../reference/compare.js';
import { halfValue, matmulRef } from '../../reference/ops.js';
import { randomArray } from '../../reference/random.js';
import { type TestGpu, testGpu } from '../../setup/gpu.js';
import { runGraph, uploadWeight } from '../../setup/run-graph.js';

/** The weight in `format` on the GPU, and the exact values it holds (to compute the reference). */
function weightIn(gpu: TestGpu, format: StorageFormat, n: number, k: number, seed: number) {
  const w = randomArray(n * k, seed);
  switch (format) {
    case 'f16': {
      const bits = toHalf(w);
      return { t: uploadWeight(gpu, 'w', [n, k], 'f16', new Uint8Array(bits.buffer)), values: decodeHalf(bits) };
    }
    case 'bf16': {
      const u = new Uint32Array(w.buffer.slice(0));
      const bits = Uint16Array.from(u, (x) => x >>> 16);
      const values = Float32Array.from(bits, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0] as number);
      return { t: uploadWeight(gpu, 'w', [n, k], 'bf16', new Uint8Array(bits.buffer)), values };
    }
    case 'q8': {
      const q = quantizeQ8(w, n, k);
      return { t: uploadWeight(gpu, 'w', [n, k], 'q8', q.data, { shape: [n], format: 'f32', bytes: q.scales }), values: dequantizeQ8(q, n, k) };
    }
    case 'q4': {
      const q = quantizeQ4(w, n, k);
      return { t: uploadWeight(gpu, 'w', [n, k], 'q4', q.data, { shape: [n, k / 32], format: 'f16', bytes: q.scales }), values: dequantizeQ4(q, n, k) };
    }
    default:
      return { t: uploadWeight(gpu, 'w', [n, k], 'f32', new Uint8Array(w.buffer)), values: w };
  }
}

/** The values f16 bits stand for, by the definition (tests/reference/ops.ts). */
const decodeHalf = (bits: Uint16Array): Float32Array => Float32Array.from(bits, halfValue);

const TOL = { atol: 3e-5, rtol: 3e-5 };
const FORMATS: StorageFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4'];

describe('matmul weight formats (dequantised in the loads)', () => {
  for (const format of FORMATS) {
    // K = 40: a multiple of 8 but not of 32 (q4 needs K % 32, so it skips that shape).
    const shapes = [[7, 33, 64], [77, 65, 96], [2, 5, 256], [5, 9, 40], [1, 300, 64], [2, 260, 32]] as const;
    for (const [m, n, k] of shapes.filter(([, , k]) => format !== 'q4' || k % 32 === 0)) {
      it(`${format} weights match the reference for M=${m}, N=${n}, K=${k}`, async () => {
        const gpu = await testGpu();
        const x = randomArray(m * k, m + k);
        const { t, values } = weightIn(gpu, format, n, k, n + k);
        const out = await runGraph(gpu, `matmul ${format} ${m}x${n}x${k}`, (b) => void b.output('y', linear(b, b.input('x', [m, k]), t)), { x });
        expectClose(out.y!, matmulRef(Float64Array, x, values, m, n, k), TOL, `matmul ${format}`, [m, n, k]);
      });
    }
  }

  it('on a GPU-class adapter the same formats go through the workgroup-tiled kernel', async () => {
    const gpu = await testGpu();
    const [m, n, k] = [9, 20, 64];
    // Pipelines with workgroup barriers compile slowly on SwiftShader: three formats cover the
    // three decode families (plain, 16-bit, quantised with scales).
    for (const format of ['f32', 'f16', 'q4'] as const) {
      const x = randomArray(m * k, 3);
      const { t, values } = weightIn(gpu, format, n, k, 4);
      const caps = { ...gpu.ctx.caps, isFallbackAdapter: false };
      const b = new GraphBuilder(caps, 'f32');
      linear(b, b.input('x', [m, k]), t);
      expect(b.ops[0]?.spec.name).toBe('matmul');
      const out = await runGraph(gpu, `matmul tiled ${format}`, (g) => void g.output('y', linear(g, g.input('x', [m, k]), t)), { x }, 'f32', caps);
      expectClose(out.y!, matmulRef(Float64Array, x, values, m, n, k), TOL, `tiled ${format}`);
    }
  });
});

/**
 * f16 weights that are mostly subnormal (|w| < 2⁻¹⁴), against activations large enough that the
 * subnormals decide the result: a decoder that flushes them to zero (as unpack2x16float and f16
 * arithmetic may) gives outputs near 0 and fails by orders of magnitude.
 */
function subnormalHalfWeights(n: number, k: number, seed: number): Uint16Array {
  const r = randomArray(n * k, seed);
  const bits = new Uint16Array(n * k);
  for (let i = 0; i < bits.length; i++) {
    const v = r[i] as number;
    // Magnitudes 1..1023 (every subnormal mantissa), one element in 8 the smallest normal (0x0400).
    const magnitude = i % 8 === 7 ? 0x0400 : 1 + Math.floor(Math.abs(v) * 1022.999);
    bits[i] = (v < 0 ? 0x8000 : 0) | magnitude;
  }
  bits[0] = 0x0001; // 2⁻²⁴, the smallest
  bits[1] = 0x83ff; // −1023 · 2⁻²⁴, the largest negative subnormal
  return bits;
}

describe('matmul f16 weights keep subnormals', () => {
  // K=64 takes the vec4 kernel on CPU emulation, K=36 its direct path without vec4 loads, and the
  // tiled kernel (GPU-class caps; the shape of the tiled test above, so its pipeline is reused)
  // decodes in the shared-memory loads.
  const cases = [
    { name: 'vec4 kernel', m: 3, n: 9, k: 64, tiled: false, spec: 'matmul_vec4' },
    { name: 'direct kernel', m: 3, n: 9, k: 36, tiled: false, spec: 'matmul' },
    { name: 'tiled kernel', m: 9, n: 20, k: 64, tiled: true, spec: 'matmul' },
  ] as const;
  for (const c of cases) {
    it(`${c.name}: subnormal f16 weights (M=${c.m}, N=${c.n}, K=${c.k}) decode exactly`, async () => {
      const gpu = await testGpu();
      const bits = subnormalHalfWeights(c.n, c.k, 11 + c.k);
      const values = decodeHalf(bits);
      const x = randomArray(c.m * c.k, 5).map((v) => v * 1000);
      const reference = matmulRef(Float64Array, x, values, c.m, c.n, c.k);
      // The subnormals matter: flushing them moves the reference far past the tolerance.
      const flushed = matmulRef(Float64Array, x, values.map((v) => (Math.abs(v) < 2 ** -14 ? 0 : v)), c.m, c.n, c.k);
      let moved = 0;
      for (let i = 0; i < reference.length; i++) moved = Math.max(moved, Math.abs((reference[i] as number) - (flushed[i] as number)) / (TOL.atol + TOL.rtol * Math.abs(reference[i] as number)));
      expect(moved).toBeGreaterThan(100);

      const t = uploadWeight(gpu, 'w', [c.n, c.k], 'f16', new Uint8Array(bits.buffer));
      const caps = c.tiled ? { ...gpu.ctx.caps, isFallbackAdapter: false } : gpu.ctx.caps;
      const probe = new GraphBuilder(caps, 'f32');
      linear(probe, probe.input('x', [c.m, c.k]), t);
      expect(probe.ops[0]?.spec.name).toBe(c.spec);
      const out = await runGraph(gpu, `matmul f16 subnormal ${c.name}`, (b) => void b.output('y', linear(b, b.input('x', [c.m, c.k]), t)), { x }, 'f32', caps);
      expectClose(out.y!, reference, TOL, `f16 subnormal weights, ${c.name}`);
    });
  }
});
