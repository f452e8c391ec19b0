import { describe, expect, it } from 'vitest';
import { SD3_LATENT_RGB_BIAS, SD3_LATENT_RGB_FACTORS } from '../../../../src/kernels/latent-preview.js';
import { LatentPreviewer } from '../../../../src/runtime/preview.js';
import { randomArray } from '../../../reference/random.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { f32Weight } from '../../../setup/run-graph.js';

describe('LatentPreviewer', () => {
  it('previews a sampler-layout latent with the SD3 factors, one RGBA8 image per batch item', async () => {
    const gpu = await testGpu();
    const [batch, c, h, w] = [2, 16, 3, 4];
    const values = randomArray(batch * c * h * w, 71, -2, 2);
    const latent = f32Weight(gpu, 'latent', [batch, c, h, w], values);
    const previewer = await LatentPreviewer.create(gpu.rt, { batch, channels: c, latentHeight: h, latentWidth: w });
    try {
      const images = await previewer.preview(latent);
      expect(images.map((i) => [i.width, i.height])).toEqual([[w, h], [w, h]]);
      for (let bi = 0; bi < batch; bi++) {
        for (let p = 0; p < h * w; p++) {
          for (let k = 0; k < 3; k++) {
            let v = SD3_LATENT_RGB_BIAS[k]!;
            for (let ch = 0; ch < c; ch++) v += values[(bi * c + ch) * h * w + p]! * SD3_LATENT_RGB_FACTORS[ch]![k]!;
            const expected = Math.trunc(255 * Math.min(1, Math.max(0, (v + 1) / 2)));
            expect(Math.abs(images[bi]!.data[p * 4 + k]! - expected)).toBeLessThanOrEqual(1);
          }
          expect(images[bi]!.data[p * 4 + 3]).toBe(255);
        }
      }
      recordGpuRun('latent previewer');
    } finally {
      previewer.dispose();
    }
  });
});
