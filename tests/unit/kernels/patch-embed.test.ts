import { describe, it } from 'vitest';
import { patchEmbed } from '../../../src/kernels/patch-embed.js';
import { encodeF16 } from '../../../src/weights/decode.js';
import { f16ToF32 } from '../../../src/weights/decode.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph, uploadWeight } from '../../setup/run-graph.js';
import { patchEmbedRef } from '../../reference/image-ops.js';

const TOL = { atol: 2e-5, rtol: 2e-5 };

describe('patch_embed', () => {
  const cases: [number, number, number, number, number, number, number][] = [
    // batch, batchIn, channels, height, width, patch, hidden
    [1, 1, 16, 4, 6, 2, 64],
    [2, 1, 16, 6, 2, 2, 37],
    [3, 3, 3, 9, 6, 3, 5],
  ];
  for (const [batch, batchIn, c, h, wd, p, hidden] of cases) {
    it(`matches the f64 reference for batch ${batch} (latent ${batchIn}), C=${c}, ${h}×${wd}, p=${p}, H=${hidden}`, async () => {
      const gpu = await testGpu();
      const tokens = (h / p) * (wd / p);
      const x = randomArray(batchIn * c * h * wd, h * 100 + wd, -3, 3);
      const w = randomArray(hidden * c * p * p, 2);
      const bias = randomArray(hidden, 3);
      const pos = randomArray(tokens * hidden, 4);
      const out = await runGraph(gpu, `patch_embed ${batch}x${c}x${h}x${wd}`, (b) => {
        b.output('y', patchEmbed(b, b.input('x', [batchIn, c, h, wd], 'f32'), {
          weight: f32Weight(gpu, 'w', [hidden, c, p, p], w),
          bias: f32Weight(gpu, 'b', [hidden], bias),
          pos: f32Weight(gpu, 'pos', [tokens, hidden], pos),
          batch,
        }));
      }, { x });
      const ref = patchEmbedRef(x, w, bias, pos, batch, batchIn, c, h, wd, p, hidden);
      expectClose(patchEmbedRef(x, w, bias, pos, batch, batchIn, c, h, wd, p, hidden, Float32Array), ref, TOL, 'f32 reference');
      expectClose(out.y!, ref, TOL, 'patch_embed', [batch, tokens, hidden]);
    });
  }

  it('reads f16 weights and an f16 position crop exactly', async () => {
    const gpu = await testGpu();
    const [batch, c, h, wd, p, hidden] = [2, 16, 4, 4, 2, 8];
    const tokens = 4;
    const x = randomArray(batch * c * h * wd, 7);
    const w16 = encodeF16(randomArray(hidden * c * p * p, 8));
    const pos16 = encodeF16(randomArray(tokens * hidden, 9));
    const decode = (bytes: Uint8Array) => Array.from(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2), f16ToF32);
    const bias = new Float32Array(hidden);
    const out = await runGraph(gpu, 'patch_embed f16', (b) => {
      b.output('y', patchEmbed(b, b.input('x', [batch, c, h, wd], 'f32'), {
        weight: uploadWeight(gpu, 'w16', [hidden, c, p, p], 'f16', w16),
        pos: uploadWeight(gpu, 'pos16', [tokens, hidden], 'f16', pos16),
        batch,
      }));
    }, { x });
    expectClose(out.y!, patchEmbedRef(x, decode(w16), bias, decode(pos16), batch, batch, c, h, wd, p, hidden), TOL, 'patch_embed f16');
  });
});
