import { describe, expect, it } from 'vitest';
import { ORIGINAL_PREFIX } from '../../../src/models/mmdit/keys.js';
import { loadDenoiser } from '../../../src/runtime/denoiser.js';
import { Runtime } from '../../../src/runtime/runtime.js';
import { PipelineCache } from '../../../src/shader/pipeline-cache.js';
import type { RefConfig } from '../../reference/mmdit.js';
import { testGpu } from '../../setup/gpu.js';
import { tinyMmdit, tinySafetensors } from '../models/mmdit/tiny.js';

const CONFIG: RefConfig = { depth: 2, hidden: 64, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 8, contextDim: 24, pooledDim: 12, mlpHidden: 128, qkNorm: true, dual: [0] };

describe('pipelines prewarmed while the weights upload', () => {
  for (const dtype of ['F32', 'F16'] as const) {
    it(`${dtype} checkpoint: compile of a prewarmed shape finds every pipeline already made`, async () => {
      const gpu = await testGpu();
      const rt = new Runtime(gpu.ctx, { pipelines: new PipelineCache(gpu.ctx) });
      const shape = { batch: 1, latentHeight: 8, latentWidth: 8, contextLength: 5, cfg: true };
      const denoiser = await loadDenoiser(rt, await tinySafetensors(tinyMmdit(CONFIG, 2), { prefix: ORIGINAL_PREFIX, dtype }), { prewarm: [shape] });
      try {
        const made = rt.pipelines.size;
        expect(made).toBeGreaterThan(5);
        await denoiser.compile(shape);
        expect(rt.pipelines.size).toBe(made);
        // Another shape with other kernel choices (M > 2 in the projections) needs new pipelines.
        await denoiser.compile({ ...shape, batch: 3 });
        expect(rt.pipelines.size).toBeGreaterThan(made);
      } finally {
        denoiser.dispose();
        rt.dispose();
      }
    });
  }

  it('a prewarm shape the model cannot take is rejected before any upload, naming the value', async () => {
    const gpu = await testGpu();
    const rt = new Runtime(gpu.ctx, { pipelines: new PipelineCache(gpu.ctx) });
    const before = gpu.ctx.memory.currentBytes;
    await expect(loadDenoiser(rt, await tinySafetensors(tinyMmdit(CONFIG, 2), { prefix: ORIGINAL_PREFIX }), {
      prewarm: [{ batch: 1, latentHeight: 7, latentWidth: 8, contextLength: 5, cfg: false }],
    })).rejects.toThrow(/latentHeight/);
    expect(gpu.ctx.memory.currentBytes).toBe(before);
    rt.dispose();
  });
});
