import { describe, it } from 'vitest';
import { layerNorm, layerNormModulate } from '../../../src/kernels/layer-norm.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph } from '../../setup/run-graph.js';
import { layerNormRowsRef } from '../../reference/ops.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };

// Both variants: one row per invocation (CPU emulation) and one workgroup per row (GPUs).
for (const serial of [true, false]) describe(`layer_norm (${serial ? 'serial' : 'workgroup'} variant)`, () => {
  for (const [batch, tokens, cols] of [[1, 1, 1], [2, 7, 33], [3, 77, 128], [1, 5, 1000]] as const) {
    it(`modulated LayerNorm matches the reference for B=${batch}, tokens=${tokens}, C=${cols}`, async () => {
      const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: serial };
      const rows = batch * tokens;
      // A large common offset checks the two-pass variance (eps 1e-6 as MODEL_SPEC.md §3).
      const x = randomArray(rows * cols, cols).map((v) => v * 3 + 5);
      const mod = randomArray(batch * 4 * cols, 11);
      const out = await runGraph(gpu, `layer_norm_modulate ${rows}x${cols}`, (b) => {
        const m = b.input('mod', [batch, 4 * cols]);
        b.output('y', layerNormModulate(b, b.input('x', [batch, tokens, cols]), { mod: m, shiftCol: 3 * cols, scaleCol: cols, tokensPerBatch: tokens, eps: 1e-6 }));
      }, { x, mod }, 'f32', caps);
      const n = layerNormRowsRef(x, rows, cols, 1e-6);
      const ref = n.map((v, i) => {
        const r = Math.floor(i / cols);
        const c = i % cols;
        const bi = Math.floor(r / tokens);
        return v * (1 + (mod[bi * 4 * cols + cols + c] as number)) + (mod[bi * 4 * cols + 3 * cols + c] as number);
      });
      expectClose(out.y!, ref, TOL, 'layer_norm_modulate');
    });
  }

  it('affine LayerNorm matches the reference (eps 1e-5, CLIP)', async () => {
    const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: serial };
    const [rows, cols] = [13, 96];
    const x = randomArray(rows * cols, 3);
    const w = randomArray(cols, 4);
    const bias = randomArray(cols, 5);
    const out = await runGraph(gpu, 'layer_norm affine', (b) => {
      b.output('y', layerNorm(b, b.input('x', [rows, cols]), { weight: f32Weight(gpu, 'w', [cols], w), bias: f32Weight(gpu, 'b', [cols], bias), eps: 1e-5 }));
    }, { x }, 'f32', caps);
    const ref = layerNormRowsRef(x, rows, cols, 1e-5).map((v, i) => v * (w[i % cols] as number) + (bias[i % cols] as number));
    expectClose(out.y!, ref, TOL, 'layer_norm affine');
  });
});
