import { describe, it } from 'vitest';
import { vaeLatentIn } from '../../../src/kernels/vae-latent-in.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

describe('vae_latent_in', () => {
  it('applies process_out and turns NCHW into NHWC', async () => {
    const gpu = await testGpu();
    const [batch, c, h, w] = [2, 16, 3, 5];
    const latent = randomArray(batch * c * h * w, 13, -4, 4);
    const out = await runGraph(gpu, 'vae_latent_in', (b) => {
      b.output('z', vaeLatentIn(b, b.input('latent', [batch, c, h, w], 'f32'), { scale: 1.5305, shift: 0.0609 }));
    }, { latent });
    const ref = new Float64Array(latent.length);
    for (let bi = 0; bi < batch; bi++) for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) ref[(bi * h * w + p) * c + k] = latent[(bi * c + k) * h * w + p]! / 1.5305 + 0.0609;
    expectClose(out.z!, ref, { atol: 1e-7, rtol: 1e-7 }, 'z');
  });
});
