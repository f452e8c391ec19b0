import { describe, expect, it } from 'vitest';
import { linear, type MatmulEpilogue } from '../../../src/kernels/matmul.js';
import { expectClose } from '../../reference/compare.js';
import { geluTanh, halfBitsOfNormal, halfValue, mapRef, matmulRef, silu } from '../../reference/ops.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph, uploadWeight } from '../../setup/run-graph.js';

const TOL = { atol: 2e-5, rtol: 2e-5 };

describe('matmul', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1], [2, 3, 31], [7, 33, 65], [77, 127, 33], [154, 65, 257], [333, 31, 127],
  ];
  for (const [m, n, k] of shapes) {
    it(`f32 weights match the f64 reference for M=${m}, N=${n}, K=${k}`, async () => {
      const gpu = await testGpu();
      const x = randomArray(m * k, m * 7 + k);
      const w = randomArray(n * k, n * 13 + k);
      const bias = randomArray(n, n);
      const wt = f32Weight(gpu, 'w', [n, k], w);
      const bt = f32Weight(gpu, 'bias', [n], bias);
      const out = await runGraph(gpu, `matmul ${m}x${n}x${k}`, (b) => {
        b.output('y', linear(b, b.input('x', [m, k]), wt, { bias: bt }));
      }, { x });
      const ref = matmulRef(Float64Array, x, w, m, n, k, bias);
      expectClose(matmulRef(Float32Array, x, w, m, n, k, bias), ref, TOL, 'f32 reference');
      expectClose(out.y!, ref, TOL, 'matmul', [m, n, k]);
    });
  }

  const epilogues: [MatmulEpilogue, (v: number) => number][] = [
    ['gelu_tanh', geluTanh],
    ['silu', silu],
  ];
  for (const [epilogue, f] of epilogues) {
    it(`the ${epilogue} epilogue matches the reference (M=19, N=37, K=41)`, async () => {
      const gpu = await testGpu();
      const [m, n, k] = [19, 37, 41];
      const x = randomArray(m * k, 1);
      const w = randomArray(n * k, 2);
      const bias = randomArray(n, 3);
      const out = await runGraph(gpu, `matmul ${epilogue}`, (b) => {
        b.output('y', linear(b, b.input('x', [m, k]), f32Weight(gpu, 'w', [n, k], w), { bias: f32Weight(gpu, 'b', [n], bias), epilogue }));
      }, { x });
      expectClose(out.y!, mapRef(Float64Array, matmulRef(Float64Array, x, w, m, n, k, bias), f), TOL, epilogue);
    });
  }

  it('the gated residual epilogue adds gate[b]·y to the residual per batch item', async () => {
    const gpu = await testGpu();
    const [batch, tokens, n, k] = [3, 5, 24, 16];
    const m = batch * tokens;
    const x = randomArray(m * k, 4);
    const w = randomArray(n * k, 5);
    const mod = randomArray(batch * 3 * n, 6); // gate is chunk 2 of 3
    const res = randomArray(m * n, 7);
    const out = await runGraph(gpu, 'matmul gated', (b) => {
      const gate = b.input('mod', [batch, 3 * n]);
      const residual = b.input('res', [batch, tokens, n]);
      const y = linear(b, b.input('x', [batch, tokens, k]), f32Weight(gpu, 'w', [n, k], w), {
        gate: { value: gate, seg: tokens, col: 2 * n },
        residual,
      });
      b.output('y', y);
    }, { x, mod, res });
    const y = matmulRef(Float64Array, x, w, m, n, k);
    const ref = new Float64Array(m * n);
    for (let r = 0; r < m; r++) {
      const bi = Math.floor(r / tokens);
      for (let c = 0; c < n; c++) ref[r * n + c] = (res[r * n + c] as number) + (mod[bi * 3 * n + 2 * n + c] as number) * (y[r * n + c] as number);
    }
    expectClose(out.y!, ref, TOL, 'gated residual');
  });

  for (const fallback of [true, false]) {
    it(`gated residual rows written by token chunks into a larger value read the residual at the output's rows (${fallback ? 'CPU-emulation' : 'GPU'} variant)`, async () => {
      const gpu = await testGpu();
      const [batch, tokens, n, k] = [2, 7, 12, 16];
      const m = batch * tokens;
      const x = randomArray(m * k, 14);
      const w = randomArray(n * k, 15);
      const mod = randomArray(batch * 2 * n, 16);
      const res = randomArray(m * n, 17);
      const wt = f32Weight(gpu, 'w', [n, k], w);
      const out = await runGraph(gpu, `matmul gated chunks ${fallback}`, (b) => {
        const xs = b.input('x', [batch, tokens, k]);
        const gate = b.input('mod', [batch, 2 * n]);
        const residual = b.input('res', [batch, tokens, n]);
        const y = b.temp([batch, tokens, n], 'y');
        for (const [start, rows] of [[0, 4], [4, 3]] as const) {
          linear(b, xs, wt, {
            rows: batch * rows,
            xLayout: { seg: rows, segRows: tokens, offset: start, col: 0, stride: k },
            into: { value: y, layout: { seg: rows, segRows: tokens, offset: start, col: 0, stride: n } },
            gate: { value: gate, seg: rows, col: n },
            residual,
          });
        }
        b.output('y', y);
      }, { x, mod, res }, 'f32', { ...gpu.ctx.caps, isFallbackAdapter: fallback });
      const y = matmulRef(Float64Array, x, w, m, n, k);
      const ref = new Float64Array(m * n);
      for (let r = 0; r < m; r++) {
        const bi = Math.floor(r / tokens);
        for (let c = 0; c < n; c++) ref[r * n + c] = (res[r * n + c] as number) + (mod[bi * 2 * n + n + c] as number) * (y[r * n + c] as number);
      }
      expectClose(out.y!, ref, TOL, 'chunked gated residual');
    });
  }

  it('f16 weights (with subnormals) are decoded exactly', async () => {
    const gpu = await testGpu();
    const [m, n, k] = [9, 10, 34];
    const x = randomArray(m * k, 8);
    const bits = new Uint16Array(n * k);
    const wv = new Float64Array(n * k);
    const src = randomArray(n * k, 9);
    for (let i = 0; i < n * k; i++) {
      // Every 7th weight is an f16 subnormal, which a flushing decoder would zero.
      bits[i] = i % 7 === 0 ? (i % 1023) + 1 : halfBitsOfNormal(src[i] as number);
      wv[i] = halfValue(bits[i] as number) * (i % 7 === 0 ? 2 ** 20 : 1);
    }
    // Scale x on the subnormal columns' rows so their contribution is far above tolerance.
    const out = await runGraph(gpu, 'matmul f16', (b) => {
      b.output('y', linear(b, b.input('x', [m, k]), uploadWeight(gpu, 'w16', [n, k], 'f16', new Uint8Array(bits.buffer))));
    }, { x });
    const exact = new Float64Array(n * k);
    for (let i = 0; i < n * k; i++) exact[i] = halfValue(bits[i] as number);
    expectClose(out.y!, matmulRef(Float64Array, x, exact, m, n, k), TOL, 'f16 matmul');
    expect(wv.length).toBe(n * k);
  });
});
