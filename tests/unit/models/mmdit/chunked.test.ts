import { describe, expect, it } from 'vitest';
import { loadDenoiser } from '../../../../src/runtime/denoiser.js';
import { Runtime } from '../../../../src/runtime/runtime.js';
import { ORIGINAL_PREFIX } from '../../../../src/models/mmdit/keys.js';
import { planCaps, recordDenoiserPlan } from '../../../../src/models/mmdit/memory-plan.js';
import type { MmditConfig } from '../../../../src/models/mmdit/config.js';
import { readTensor } from '../../../../src/tensor/read.js';
import type { RefConfig } from '../../../reference/mmdit.js';
import { randomArray } from '../../../reference/random.js';
import { cappedTestGpu, recordGpuRun, testGpu, type TestGpu } from '../../../setup/gpu.js';
import { tinyMmdit, tinySafetensors } from './tiny.js';

/**
 * 400 KiB: exactly the timestep table `[200 steps, 2, 256]` f32 (bound whole), above every
 * (F16) weight and the residual stream, below the fused qkv `[2, 149, 384]` and the MLP hidden
 * `[2, 144, 512]`, which must therefore run in token chunks.
 */
const CAP = 409600;
const SIZE = { latentHeight: 24, latentWidth: 24, contextLength: 5, batch: 1, cfg: true } as const;

const CONFIGS: [string, RefConfig][] = [
  ['QK-norm and dual attention', { depth: 2, hidden: 128, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 16, contextDim: 24, pooledDim: 12, mlpHidden: 512, qkNorm: true, dual: [0] }],
  ['fused joint qkv (no QK-norm)', { depth: 2, hidden: 128, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 16, contextDim: 24, pooledDim: 12, mlpHidden: 512, qkNorm: false, dual: [] }],
];

async function velocity(gpu: TestGpu, c: RefConfig): Promise<Float32Array> {
  // F16 weights stay F16 on the GPU here (no widening on CPU emulation), so that every weight binds
  // under the cap and only activations need chunks.
  const rt = new Runtime(gpu.ctx, { pipelines: gpu.cache, widenHalfWeights: false });
  const denoiser = await loadDenoiser(rt, await tinySafetensors(tinyMmdit(c, 3), { prefix: ORIGINAL_PREFIX, dtype: 'F16' }));
  try {
    const graph = await denoiser.compile(SIZE);
    graph.writeLatent(randomArray(c.inChannels * 24 * 24, 41, -2, 2));
    graph.writeContext(randomArray(2 * 5 * c.contextDim, 42));
    graph.writePooled(randomArray(2 * c.pooledDim, 43));
    graph.writeTimesteps([700, 700]);
    graph.forward(0);
    return await readTensor(gpu.ctx, graph.output);
  } finally {
    denoiser.dispose();
  }
}

function asConfig(c: RefConfig): MmditConfig {
  return { ...c, heads: c.hidden / 64, headDim: 64, frequencyDim: 256, dualAttentionLayers: c.dual };
}

describe('MM-DiT row chunking under a binding cap (executed)', () => {
  for (const [title, c] of CONFIGS) {
    it(`${title}: the forward under a ${CAP / 1024} KiB cap equals the unchunked one`, async () => {
      const plan = recordDenoiserPlan(asConfig(c), SIZE, 'f16', 'f32', planCaps(CAP));
      const chunked = plan.ops.filter((op) => /\[\d+:\d+\]/.test(op.label)).map((op) => op.label);
      expect(chunked.some((l) => l.includes('qkv['))).toBe(true);
      expect(chunked.some((l) => l.includes('mlp.fc1['))).toBe(true);
      const whole = await velocity(await testGpu(), c);
      const capped = await cappedTestGpu({ maxStorageBufferBindingSize: CAP });
      try {
        expect(capped.ctx.caps.maxStorageBufferBindingSize).toBe(CAP);
        const split = await velocity(capped, c);
        let maxAbs = 0;
        for (let i = 0; i < whole.length; i++) maxAbs = Math.max(maxAbs, Math.abs((whole[i] as number) - (split[i] as number)));
        expect(maxAbs).toBeLessThanOrEqual(1e-6);
        expect(whole.some((v) => v !== 0)).toBe(true);
        recordGpuRun(`mmdit chunked ${title}`);
      } finally {
        capped.ctx.dispose();
      }
    });
  }
});
