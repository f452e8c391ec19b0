import { describe, expect, it } from 'vitest';
import { latentPreview, previewFactorTable, SD3_LATENT_RGB_FACTORS } from '../../../src/kernels/latent-preview.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';
import { toByteRef } from '../../reference/image-ops.js';

const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('latent_preview', () => {
  it('uses the published SD3 factors and converts like to_rgba', async () => {
    const gpu = await testGpu();
    const [batch, pixels] = [2, 37];
    const latent = randomArray(batch * 16 * pixels, 9, -3, 3);
    const table = previewFactorTable();
    expect(table.length).toBe(51);
    expect(SD3_LATENT_RGB_FACTORS[15]).toEqual([-0.1448, -0.1463, -0.1189]);
    const out = await runGraph(gpu, 'latent_preview', (b) => {
      b.output('rgba', latentPreview(b, b.input('latent', [batch, 16, 1, pixels], 'f32'), b.constant('factors', [51], 'f32', table)));
    }, { latent });
    const got = u32(out.rgba!);
    let offByOne = 0;
    for (let p = 0; p < batch * pixels; p++) {
      for (let c = 0; c < 3; c++) {
        let v = table[48 + c]!;
        const [bi, q] = [Math.floor(p / pixels), p % pixels];
        for (let k = 0; k < 16; k++) v += latent[(bi * 16 + k) * pixels + q]! * table[k * 3 + c]!;
        const diff = Math.abs(((got[p]! >>> (8 * c)) & 0xff) - toByteRef(v));
        expect(diff, `pixel ${p} channel ${c}`).toBeLessThanOrEqual(1);
        offByOne += diff;
      }
      expect(got[p]! >>> 24).toBe(255);
    }
    expect(offByOne).toBeLessThan(3);
  });
});
