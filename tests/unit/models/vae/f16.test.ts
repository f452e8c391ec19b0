import { describe, expect, it } from 'vitest';
import { Vae } from '../../../../src/runtime/vae.js';
import { readTensor } from '../../../../src/tensor/read.js';
import { randomArray } from '../../../reference/random.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { referenceVae } from './sources.js';
import { compareTensors } from '../../../reference/compare.js';

/** Relative L2 of got against ref (the f16 acceptance measure, ISSUE_NOTES.md: ≤ 1e-2). */
const relL2 = (got: ArrayLike<number>, ref: ArrayLike<number>): number => compareTensors(got, ref).relL2;

/**
 * f16 compute (activations f16, statistics and accumulators f32) against f32 compute, relative
 * L2 ≤ 1e-2 (ISSUE_NOTES). Runs only where the adapter has shader-f16; elsewhere it is reported
 * as skipped, with the reason in its name.
 */
const HAS_F16 = (await testGpu()).ctx.caps.f16;

describe('VAE in f16 compute', () => {
  it.skipIf(!HAS_F16)('decode (2 bands) and encode match f32 compute within relative L2 1e-2 (skipped: adapter lacks shader-f16)', async () => {
    const gpu = await testGpu();
    const latent = randomArray(16 * 6 * 5, 61, -2, 2);
    const image = Uint8ClampedArray.from(randomArray(48 * 40 * 4, 62, 0, 256), (v) => Math.floor(v));
    const results = [];
    for (const precision of ['f32', 'f16'] as const) {
      const vae = await Vae.load(gpu.rt, await referenceVae(), { precision });
      try {
        const g = await vae.compileDecoder({ batch: 1, latentHeight: 6, latentWidth: 5, floatImage: true, minBands: 2 });
        gpu.ctx.write(g.latent.buffer, 0, latent);
        g.run();
        const decoded = await g.readFloatImage();
        const encoded = await vae.encode([{ width: 40, height: 48, data: image }]);
        results.push({ decoded, mean: encoded.mean, latent: await readTensor(gpu.ctx, g.latent) });
        recordGpuRun(`vae ${precision}`);
      } finally {
        vae.dispose();
      }
    }
    const [f32, f16] = results as [(typeof results)[0], (typeof results)[0]];
    console.log(`f16 VAE: decode relative L2 ${relL2(f16.decoded, f32.decoded).toExponential(2)}, encode ${relL2(f16.mean, f32.mean).toExponential(2)}`);
    expect(relL2(f16.decoded, f32.decoded)).toBeLessThan(1e-2);
    expect(relL2(f16.mean, f32.mean)).toBeLessThan(1e-2);
  });
});
