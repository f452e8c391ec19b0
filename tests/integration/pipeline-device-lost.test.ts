import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeviceLostError } from '../../src/errors.js';
import { GpuContext } from '../../src/gpu/device.js';
import { createNodeGpu, type NodeGpu } from '../../src/node/dawn.js';
import { createPipeline } from '../../src/node/pipeline.js';
import type { Progress } from '../../src/pipeline/progress.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import type { TinyModel } from '../helpers/tiny-model.js';

/**
 * Fault: the device is lost while a generation's denoising steps are being encoded. The call rejects with
 * DeviceLostError (not a GPU validation error, not a black picture), every later call on that
 * pipeline does too, and a new pipeline makes the same picture a fresh one makes.
 */

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

/** A pipeline, and the GPU context it acquired for itself. */
async function pipelineWithContext(): Promise<{ pipeline: Awaited<ReturnType<typeof createPipeline>>; ctx: GpuContext }> {
  const acquire = vi.spyOn(GpuContext, 'acquire');
  try {
    const pipeline = await createPipeline({ gpu: node.gpu, model: tiny.modelDir });
    const ctx = await (acquire.mock.results.at(-1)?.value as Promise<GpuContext>);
    return { pipeline, ctx };
  } finally {
    acquire.mockRestore();
  }
}

describe('fault: device lost during a generation', () => {
  it('rejects with DeviceLostError, keeps rejecting, and a new pipeline makes the reference picture', async () => {
    const first = await pipelineWithContext();
    let reference: Uint8ClampedArray;
    try {
      reference = (await first.pipeline.generate({ prompt: 'a red circle', seed: 3 })).images[0]!.data;
      // The device is destroyed as the sampler encodes its third step, a point the GPU cannot have
      // passed yet (progress events may arrive after the GPU has finished every step).
      const device = first.ctx.device;
      const create = device.createCommandEncoder.bind(device);
      let stepsEncoded = 0;
      device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
        if (/\bat (async )?sample \(/.test(new Error().stack ?? '') && ++stepsEncoded === 3) device.destroy();
        return create(descriptor);
      };
      const steps: number[] = [];
      const run = first.pipeline.generate({
        prompt: 'a red circle', seed: 3, numInferenceSteps: 6,
        onProgress: (e: Progress) => e.phase === 'denoise' && steps.push(e.step),
      });
      await expect(run).rejects.toBeInstanceOf(DeviceLostError);
      expect(stepsEncoded).toBeGreaterThanOrEqual(3);
      expect(steps.at(-1) ?? 0).toBeLessThan(6);
      expect(first.ctx.lost).toBeInstanceOf(DeviceLostError);
      await expect(first.pipeline.generate({ prompt: 'a red circle', seed: 3 })).rejects.toBeInstanceOf(DeviceLostError);
    } finally {
      first.pipeline.dispose();
    }
    const second = await pipelineWithContext();
    try {
      const again = await second.pipeline.generate({ prompt: 'a red circle', seed: 3 });
      expect(again.images[0]!.data).toEqual(reference);
    } finally {
      second.pipeline.dispose();
    }
  });
});
