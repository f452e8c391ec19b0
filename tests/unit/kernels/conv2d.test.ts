import { describe, expect, it } from 'vitest';
import { conv2d, type ConvMode, type ConvTiling } from '../../../src/kernels/conv2d.js';
import { wholeImage } from '../../../src/kernels/image-rows.js';
import { expectClose } from '../../reference/compare.js';
import { convRef } from '../../reference/image-ops.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph, uploadWeight } from '../../setup/run-graph.js';

const TOL = { atol: 3e-5, rtol: 3e-5 };

interface Case {
  readonly batch: number;
  readonly h: number;
  readonly w: number;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly mode: ConvMode;
  readonly residual?: boolean;
}

async function check(c: Case, tiling: ConvTiling, seed: number): Promise<void> {
  const gpu = await testGpu();
  const x = randomArray(c.batch * c.h * c.w * c.cin, seed);
  const w = randomArray(c.cout * c.k * c.k * c.cin, seed + 1, -0.5, 0.5);
  const bias = randomArray(c.cout, seed + 2);
  const ref = convRef(Float64Array, x, c, w, bias);
  const residual = c.residual ? randomArray(ref.out.length, seed + 3) : undefined;
  const truth = convRef(Float64Array, x, c, w, bias, residual);
  expectClose(convRef(Float32Array, x, c, w, bias, residual).out, truth.out, TOL, 'f32 reference');
  const wt = f32Weight(gpu, 'w', [c.cout, c.k, c.k, c.cin], w);
  const bt = f32Weight(gpu, 'b', [c.cout], bias);
  const out = await runGraph(gpu, `conv2d ${JSON.stringify(c)} ${tiling}`, (b) => {
    const input = wholeImage(b.input('x', [c.batch, c.h * c.w, c.cin]), c.h);
    const res = c.residual ? wholeImage(b.input('res', [c.batch, truth.height * truth.width, c.cout]), truth.height) : undefined;
    const y = conv2d(b, input, { weight: wt, bias: bt, mode: c.mode, inHeight: c.h, inWidth: c.w, tiling, ...(res ? { residual: res } : {}) });
    b.output('y', y.value);
  }, residual ? { x, res: residual } : { x });
  expectClose(out.y!, truth.out, TOL, `conv2d ${c.mode} k${c.k}`, [c.batch, truth.height, truth.width, c.cout]);
}

describe('conv2d', () => {
  const cases: Case[] = [
    { batch: 2, h: 5, w: 7, cin: 4, cout: 5, k: 3, mode: 'same' },
    { batch: 1, h: 3, w: 9, cin: 36, cout: 17, k: 1, mode: 'same', residual: true },
    { batch: 1, h: 6, w: 5, cin: 16, cout: 31, k: 3, mode: 'same', residual: true },
    { batch: 2, h: 3, w: 4, cin: 8, cout: 6, k: 3, mode: 'upsample' },
    { batch: 1, h: 7, w: 6, cin: 20, cout: 7, k: 3, mode: 'downsample' },
    { batch: 1, h: 6, w: 9, cin: 4, cout: 65, k: 3, mode: 'downsample' },
    { batch: 2, h: 9, w: 13, cin: 12, cout: 19, k: 3, mode: 'same', residual: true },
  ];
  for (const tiling of ['direct', 'shared'] as const) {
    cases.forEach((c, i) => {
      it(`${tiling} ${c.k}×${c.k} ${c.mode} matches the f64 reference (B=${c.batch}, ${c.h}×${c.w}, ${c.cin}→${c.cout}${c.residual ? ', residual' : ''})`, async () => {
        await check(c, tiling, 100 + i * 10);
      });
    });
  }

  it('f16 weights are decoded exactly in both tilings', async () => {
    const gpu = await testGpu();
    const [h, w, cin, cout] = [4, 5, 8, 9];
    const bits = new Uint16Array(cout * 9 * cin);
    const values = new Float64Array(bits.length);
    for (let i = 0; i < bits.length; i++) {
      // Alternate signs and exponents, one in 13 a subnormal.
      bits[i] = i % 13 === 0 ? (i % 1023) + 1 : ((i % 2) << 15) | ((12 + (i % 5)) << 10) | ((i * 37) % 1024);
      const e = (bits[i]! >> 10) & 0x1f;
      const m = bits[i]! & 0x3ff;
      values[i] = (bits[i]! & 0x8000 ? -1 : 1) * (e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15));
    }
    const x = randomArray(h * w * cin, 7);
    const truth = convRef(Float64Array, x, { batch: 1, h, w, cin, cout, k: 3, mode: 'same' }, values);
    const wt = uploadWeight(gpu, 'w16', [cout, 3, 3, cin], 'f16', new Uint8Array(bits.buffer));
    for (const tiling of ['direct', 'shared'] as const) {
      const out = await runGraph(gpu, `conv2d f16 ${tiling}`, (b) => {
        b.output('y', conv2d(b, wholeImage(b.input('x', [1, h * w, cin]), h), { weight: wt, inHeight: h, inWidth: w, tiling }).value);
      }, { x });
      expectClose(out.y!, truth.out, TOL, `conv2d f16 ${tiling}`);
    }
  });

  it('row bands with halo rows reproduce the whole-image result exactly', async () => {
    const gpu = await testGpu();
    const [h, w, cin, cout] = [7, 6, 8, 12];
    const x = randomArray(h * w * cin, 21);
    const wv = randomArray(cout * 9 * cin, 22);
    const wt = f32Weight(gpu, 'w', [cout, 3, 3, cin], wv);
    const whole = await runGraph(gpu, 'conv2d whole', (b) => {
      b.output('y', conv2d(b, wholeImage(b.input('x', [1, h * w, cin]), h), { weight: wt, inHeight: h, inWidth: w, mode: 'upsample' }).value);
    }, { x });
    // Bands of input rows [0,3), [3,5), [5,7), each with its neighbours' edge rows as halos.
    const bands = [[0, 3], [3, 5], [5, 7]] as const;
    const inputs: Record<string, Float32Array> = {};
    const banded = await runGraph(gpu, 'conv2d bands', (b) => {
      const out = b.temp([1, 4 * h * w, cout], 'y');
      const view = wholeImage(out, 2 * h);
      bands.forEach(([r0, r1], j) => {
        const top = Math.max(0, r0 - 1);
        const bottom = Math.min(h, r1 + 1);
        inputs[`x${j}`] = x.slice(top * w * cin, bottom * w * cin);
        const band = { value: b.input(`x${j}`, [1, (bottom - top) * w, cin]), row0: top, rows: bottom - top };
        conv2d(b, band, { weight: wt, inHeight: h, inWidth: w, mode: 'upsample', outRow0: 2 * r0, outRows: 2 * (r1 - r0), into: view });
      });
      b.output('y', out);
    }, inputs);
    expect(Array.from(banded.y!)).toEqual(Array.from(whole.y!));
  });
});
