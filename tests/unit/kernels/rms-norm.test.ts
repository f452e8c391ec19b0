import { describe, it } from 'vitest';
import { rmsNorm } from '../../../src/kernels/rms-norm.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph } from '../../setup/run-graph.js';
import { rmsNormGroupsRef } from '../../reference/ops.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };

// Both variants: one group per invocation (CPU emulation) and one workgroup per group (GPUs).
for (const serial of [true, false]) describe(`rms_norm (${serial ? 'serial' : 'workgroup'} variant)`, () => {
  it('QK-norm normalises each 64-wide head of q and k with its own weight, leaving v out', async () => {
    const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: serial };
    const [rows, H] = [37, 192];
    const x = randomArray(rows * 3 * H, 1, -3, 3);
    const w = randomArray(128, 2, 0.5, 1.5);
    const out = await runGraph(gpu, 'rms_norm qk', (b) => {
      b.output('y', rmsNorm(b, b.input('qkv', [rows, 3 * H]), { weight: f32Weight(gpu, 'ln_qk', [128], w), group: 64, segment: H, cols: 2 * H, eps: 1e-6 }));
    }, { qkv: x }, 'f32', caps);
    expectClose(out.y!, rmsNormGroupsRef(x, rows, 3 * H, 2 * H, 64, H, w), TOL, 'qk norm');
  });

  for (const [rows, width] of [[1, 1], [5, 64], [77, 333], [3, 4096]] as const) {
    it(`whole-row RMS norm with weight matches the reference for ${rows}x${width}`, async () => {
      const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: serial };
      const x = randomArray(rows * width, width);
      const w = randomArray(width, 3);
      const out = await runGraph(gpu, `rms_norm ${rows}x${width}`, (b) => {
        b.output('y', rmsNorm(b, b.input('x', [rows, width]), { weight: f32Weight(gpu, 'g', [width], w), group: width, eps: 1e-6 }));
      }, { x }, 'f32', caps);
      expectClose(out.y!, rmsNormGroupsRef(x, rows, width, width, width, width, w), TOL, 'rms norm');
    });
  }
});
