import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { planMemory } from '../../src/node/pipeline.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import type { TinyModel } from '../helpers/tiny-model.js';

/** planMemory from the manifest alone (no GPU); pipeline.test.ts compares it with what a generation allocates. */

let tiny: TinyModel;

beforeAll(async () => {
  tiny = await buildPipelineModel();
});

afterAll(async () => {
  await tiny?.dispose();
});

describe('planMemory', () => {
  it('follows the binding limit: more VAE bands under a lower cap, and says what to lower when a binding cannot fit', async () => {
    const low = await planMemory(tiny.modelDir, { limits: { maxStorageBufferBindingSize: 448 * 1024 } });
    expect(low.phases.decode.bands).toBeGreaterThanOrEqual(2);
    // Token tables and activations are split under the cap; the per-step timestep table
    // ([200 steps, 2 rows, 256] f32 = 400 KiB) is bound whole.
    const tight = await planMemory(tiny.modelDir, { limits: { maxStorageBufferBindingSize: 256 * 1024 } });
    expect(tight.fits).toBe(false);
    expect(tight.largestBinding.bytes).toBeGreaterThan(256 * 1024);
    expect(tight.largestBinding.what).toMatch(/denoiser/);
    expect(tight.advice).toMatch(/lower width\/height or numImagesPerPrompt/);
    const bigger = await planMemory(tiny.modelDir, { width: 256, height: 256, numImagesPerPrompt: 4 });
    expect(bigger.phases.denoise.activationBytes).toBeGreaterThan(low.phases.denoise.activationBytes);
  });

  it('rejects sizes the model cannot make, naming the parameter', async () => {
    await expect(planMemory(tiny.modelDir, { width: 72 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(planMemory(tiny.modelDir, { numImagesPerPrompt: 5 })).rejects.toMatchObject({ parameter: 'numImagesPerPrompt' });
  });
});
