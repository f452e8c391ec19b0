import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { createNodeGpu, type NodeGpu } from '../../src/node/dawn.js';
import { createPipeline, planMemory } from '../../src/node/pipeline.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import type { TinyModel } from '../helpers/tiny-model.js';

/** planMemory from the manifest alone, against what a generation on Dawn actually allocates. */

let node: NodeGpu;
let tiny: TinyModel;

beforeAll(async () => {
  node = createNodeGpu();
  tiny = await buildPipelineModel();
});

afterAll(async () => {
  await tiny?.dispose();
  node?.dispose();
});

describe('planMemory', () => {
  it('predicts the measured peak GPU bytes of both residencies within 10%', async () => {
    // SwiftShader is a CPU-emulation adapter: the runtime holds halves as f32 there.
    const plan = await planMemory(tiny.modelDir, { widenHalfWeights: true });
    expect(plan).toMatchObject({ model: 'tiny-test', width: 64, height: 64, numImagesPerPrompt: 1, t5: false, fits: true, advice: null });
    expect(plan.peakBytes.sequential).toBeLessThan(plan.peakBytes.all);
    for (const residency of ['all', 'sequential'] as const) {
      const p = await createPipeline({ gpu: node.gpu, model: tiny.modelDir, residency });
      const measured = (await p.generate({ prompt: 'a red circle' })).peakGpuBytes.total;
      p.dispose();
      const planned = plan.peakBytes[residency];
      console.log(`planMemory ${residency}: planned ${planned} bytes, measured ${measured} (${((planned / measured - 1) * 100).toFixed(1)}%)`);
      expect(Math.abs(planned / measured - 1)).toBeLessThan(0.1);
    }
  });

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
