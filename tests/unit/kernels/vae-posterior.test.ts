import { describe, it } from 'vitest';
import { vaePosterior } from '../../../src/kernels/vae-posterior.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

describe('vae_posterior', () => {
  for (const withNoise of [false, true]) {
    it(`splits the moments, clamps logvar and applies process_in (${withNoise ? 'seeded sample' : 'mean'})`, async () => {
      const gpu = await testGpu();
      const [batch, h, w, c] = [2, 3, 5, 4];
      const moments = randomArray(batch * h * w * 2 * c, 11, -40, 30);
      const noise = randomArray(batch * h * w * c, 12);
      const out = await runGraph(gpu, 'vae_posterior', (b) => {
        const mk = (name: string) => b.temp([batch, c, h, w], name, 'f32');
        const outs = { mean: mk('mean'), logvar: mk('logvar'), latent: mk('latent') };
        // Two bands of the moments: rows [0, 2) and [2, 3).
        const m0 = b.input('m0', [batch, 2 * w, 2 * c]);
        const m1 = b.input('m1', [batch, w, 2 * c]);
        const n = withNoise ? b.input('noise', [batch, c, h, w], 'f32') : null;
        const common = { width: w, height: h, shift: 0.0609, scale: 1.5305, noise: n };
        vaePosterior(b, { value: m0, row0: 0, rows: 2 }, outs, { ...common, row0: 0, rows: 2 });
        vaePosterior(b, { value: m1, row0: 2, rows: 1 }, outs, { ...common, row0: 2, rows: 1 });
        for (const [k, v] of Object.entries(outs)) b.output(k, v);
      }, {
        m0: Float32Array.from({ length: batch * 2 * w * 2 * c }, (_, i) => moments[Math.floor(i / (2 * w * 2 * c)) * h * w * 2 * c + (i % (2 * w * 2 * c))]!),
        m1: Float32Array.from({ length: batch * w * 2 * c }, (_, i) => moments[Math.floor(i / (w * 2 * c)) * h * w * 2 * c + 2 * w * 2 * c + (i % (w * 2 * c))]!),
        ...(withNoise ? { noise } : {}),
      });
      const mean = new Float64Array(batch * h * w * c);
      const logvar = new Float64Array(mean.length);
      const latent = new Float64Array(mean.length);
      for (let p = 0; p < batch * h * w; p++) {
        for (let k = 0; k < c; k++) {
          const [bi, q] = [Math.floor(p / (h * w)), p % (h * w)];
          const i = (bi * c + k) * h * w + q;
          mean[i] = moments[p * 2 * c + k]!;
          logvar[i] = Math.min(20, Math.max(-30, moments[p * 2 * c + c + k]!));
          const sample = withNoise ? mean[i]! + Math.exp(0.5 * logvar[i]!) * noise[i]! : mean[i]!;
          latent[i] = (sample - 0.0609) * 1.5305;
        }
      }
      expectClose(out.mean!, mean, { atol: 0, rtol: 0 }, 'mean');
      expectClose(out.logvar!, logvar, { atol: 0, rtol: 0 }, 'logvar');
      expectClose(out.latent!, latent, { atol: 1e-6, rtol: 2e-6 }, 'latent');
    });
  }
});
