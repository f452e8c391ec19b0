import { describe, it } from 'vitest';
import { groupNorm, groupNormApply, groupNormStatistics } from '../../../src/kernels/group-norm.js';
import { wholeImage } from '../../../src/kernels/image-rows.js';
import { expectClose } from '../../reference/compare.js';
import { groupNormRef } from '../../reference/image-ops.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph } from '../../setup/run-graph.js';

const TOL = { atol: 2e-5, rtol: 2e-5 };
const EPS = 1e-6;

describe('group_norm', () => {
  const cases = [
    { batch: 2, h: 5, w: 7, channels: 32, groups: 32, silu: true },
    { batch: 1, h: 9, w: 3, channels: 64, groups: 32, silu: false },
    { batch: 3, h: 4, w: 11, channels: 128, groups: 32, silu: true },
    { batch: 1, h: 131, w: 129, channels: 8, groups: 2, silu: true },
  ];
  for (const c of cases) {
    it(`matches the f64 reference (B=${c.batch}, ${c.h}×${c.w}, C=${c.channels}, G=${c.groups}, silu ${c.silu})`, async () => {
      const gpu = await testGpu();
      const pixels = c.h * c.w;
      // An offset mean per channel makes one-pass (E[x²] − E[x]²) statistics fail.
      const x = randomArray(c.batch * pixels * c.channels, c.channels + c.h, -1, 1).map((v, i) => v * 3 + 50 * ((i % c.channels) % 3));
      const gamma = randomArray(c.channels, 1, 0.5, 1.5);
      const beta = randomArray(c.channels, 2);
      const dims = { batch: c.batch, pixels, channels: c.channels, groups: c.groups, eps: EPS, silu: c.silu };
      const truth = groupNormRef(Float64Array, x, dims, gamma, beta);
      expectClose(groupNormRef(Float32Array, x, dims, gamma, beta), truth, TOL, 'f32 reference');
      const g = f32Weight(gpu, 'gamma', [c.channels], gamma);
      const bt = f32Weight(gpu, 'beta', [c.channels], beta);
      const out = await runGraph(gpu, `group_norm ${JSON.stringify(c)}`, (b) => {
        const view = wholeImage(b.input('x', [c.batch, pixels, c.channels]), c.h);
        b.output('y', groupNorm(b, view, { gamma: g, beta: bt, silu: c.silu, width: c.w, groups: c.groups, eps: EPS }).value);
      }, { x });
      expectClose(out.y!, truth, TOL, 'group_norm', [c.batch, c.h, c.w, c.channels]);
    });
  }

  it('statistics over row bands with halo rows equal those of the whole map', async () => {
    const gpu = await testGpu();
    const [batch, h, w, channels, groups] = [2, 10, 6, 64, 32];
    const x = randomArray(batch * h * w * channels, 5, -2, 2);
    const gamma = randomArray(channels, 6);
    const beta = randomArray(channels, 7);
    const truth = groupNormRef(Float64Array, x, { batch, pixels: h * w, channels, groups, eps: EPS, silu: true }, gamma, beta);
    const g = f32Weight(gpu, 'gamma', [channels], gamma);
    const bt = f32Weight(gpu, 'beta', [channels], beta);
    // Bands [0,4), [4,5), [5,10), stored with one halo row where a neighbour exists.
    const bands = [[0, 4], [4, 5], [5, 10]] as const;
    const inputs: Record<string, Float32Array> = {};
    const rowOf = (bi: number, r: number) => x.subarray(((bi * h + r) * w) * channels, ((bi * h + r + 1) * w) * channels);
    const out = await runGraph(gpu, 'group_norm bands', (b) => {
      const parts = bands.map(([r0, r1], j) => {
        const top = Math.max(0, r0 - 1);
        const bottom = Math.min(h, r1 + 1);
        const data = new Float32Array(batch * (bottom - top) * w * channels);
        for (let bi = 0; bi < batch; bi++) for (let r = top; r < bottom; r++) data.set(rowOf(bi, r), ((bi * (bottom - top) + r - top) * w) * channels);
        inputs[`x${j}`] = data;
        return { view: { value: b.input(`x${j}`, [batch, (bottom - top) * w, channels]), row0: top, rows: bottom - top }, row0: r0, rows: r1 - r0 };
      });
      const coef = groupNormStatistics(b, parts, { width: w, groups, eps: EPS, gamma: g, beta: bt });
      const y = b.temp([batch, h * w, channels], 'y');
      for (const p of parts) groupNormApply(b, p, coef, { silu: true, width: w, into: wholeImage(y, h) });
      b.output('y', y);
    }, inputs);
    expectClose(out.y!, truth, TOL, 'banded group_norm');
  });
});
