import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, NonFiniteError } from '../../src/errors.js';
import { ORIGINAL_PREFIX } from '../../src/models/mmdit/keys.js';
import type { RefConfig } from '../reference/mmdit.js';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { latentCheckOf, latentGuard, readSampledLatent } from '../../src/runtime/finite-check.js';
import { decodeInBands } from '../../src/runtime/hand-off.js';
import { Vae } from '../../src/runtime/vae.js';
import { sample } from '../../src/runtime/sampler.js';
import { gaussianNoise } from '../../src/sampling/noise.js';
import { readTensor } from '../../src/tensor/read.js';
import { randomArray } from '../reference/random.js';
import { testGpu } from '../setup/gpu.js';
import { tinyMmdit, tinySafetensors, type TinyTensor } from '../unit/models/mmdit/tiny.js';
import { referenceVae } from '../unit/models/vae/sources.js';

/**
 * Non-finite guards around sampling: CPU-written inputs are checked before upload (naming the
 * tensor and its first bad index), schedules must decrease, and the sampled latent is checked on
 * the GPU in the last step's pass, its 3-word flag read back with the latent in one readback.
 */

const CONFIG: RefConfig = { depth: 1, hidden: 64, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 4, contextDim: 16, pooledDim: 8, mlpHidden: 128, qkNorm: false, dual: [] };
const [H, W, L] = [4, 4, 3];
const perImage = CONFIG.inChannels * H * W;

async function graphOf(weights: Map<string, TinyTensor>) {
  const gpu = await testGpu();
  const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(weights, { prefix: ORIGINAL_PREFIX }));
  const graph = await denoiser.compile({ batch: 1, latentHeight: H, latentWidth: W, contextLength: L, cfg: false });
  return { gpu, graph, dispose: () => denoiser.dispose() };
}

const thrown = async (p: Promise<unknown> | (() => unknown)): Promise<unknown> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e;
  }
  return null;
};

describe('non-finite guards', () => {
  it('CPU-written context, pooled, latent and noise are checked before upload; sigmas must decrease', async () => {
    const { graph, dispose } = await graphOf(tinyMmdit(CONFIG, 5));
    try {
      const context = randomArray(L * CONFIG.contextDim, 1);
      context[17] = Number.NaN;
      expect(await thrown(() => graph.writeContext(context))).toMatchObject({ name: 'NonFiniteError', tensor: 'context', index: 17, value: 'NaN', phase: 'input' });
      const pooled = randomArray(CONFIG.pooledDim, 2);
      pooled[3] = Number.POSITIVE_INFINITY;
      expect(await thrown(() => graph.writePooled(pooled))).toMatchObject({ tensor: 'pooled', index: 3, value: 'Infinity' });
      const latent = new Float32Array(perImage);
      latent[perImage - 1] = Number.NEGATIVE_INFINITY;
      expect(await thrown(() => graph.writeLatent(latent))).toMatchObject({ tensor: 'latent', index: perImage - 1 });
      graph.writeContext(randomArray(L * CONFIG.contextDim, 1));
      graph.writePooled(randomArray(CONFIG.pooledDim, 2));
      const noise = gaussianNoise(3, 1, perImage);
      noise[40] = Number.NaN;
      const e = await thrown(sample(graph, { steps: 2, guidanceScale: 1, noise }));
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e).toMatchObject({ tensor: 'noise', index: 40 });
      const rising = await thrown(sample(graph, { steps: 2, guidanceScale: 1, sigmas: Float64Array.of(1, 0.4, 0.6) }));
      expect(rising).toBeInstanceOf(InvalidArgumentError);
      expect((rising as InvalidArgumentError).parameter).toBe('sigmas[2]');
    } finally {
      dispose();
    }
  });

  it('a latent that turns NaN while sampling raises NonFiniteError at the one readback of the result', async () => {
    const weights = tinyMmdit(CONFIG, 6);
    const bias = weights.get('final_layer.linear.bias')!;
    bias.data[5] = Number.NaN;
    const { gpu, graph, dispose } = await graphOf(weights);
    try {
      graph.writeContext(randomArray(L * CONFIG.contextDim, 1));
      graph.writePooled(randomArray(CONFIG.pooledDim, 2));
      const before = gpu.ctx.readbacks;
      await sample(graph, { steps: 3, guidanceScale: 1, seed: 7 });
      expect(gpu.ctx.readbacks).toBe(before);
      expect(latentCheckOf(graph)).not.toBeNull();
      const e = await thrown(readSampledLatent(graph));
      expect(gpu.ctx.readbacks).toBe(before + 1);
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e).toMatchObject({ phase: 'sampling', tensor: 'latent', value: 'NaN', step: 2 });
      const latent = await readTensor(gpu.ctx, graph.inputs.latent);
      expect((e as NonFiniteError).index).toBe(latent.findIndex((v) => Number.isNaN(v)));
      expect((e as NonFiniteError).count).toBe(latent.filter((v) => Number.isNaN(v)).length);
    } finally {
      dispose();
    }
  });

  it('a finite result reads back whole, in one readback, equal to the latent', async () => {
    const { gpu, graph, dispose } = await graphOf(tinyMmdit(CONFIG, 7));
    try {
      graph.writeContext(randomArray(L * CONFIG.contextDim, 1));
      graph.writePooled(randomArray(CONFIG.pooledDim, 2));
      await sample(graph, { steps: 3, guidanceScale: 1, seed: 7 });
      const before = gpu.ctx.readbacks;
      const got = await readSampledLatent(graph);
      expect(gpu.ctx.readbacks).toBe(before + 1);
      expect([...got]).toEqual([...(await readTensor(gpu.ctx, graph.inputs.latent))]);
    } finally {
      dispose();
    }
  });
});

describe('non-finite latent before the pictures (the pipeline path)', () => {
  const C16: RefConfig = { ...CONFIG, inChannels: 16, outChannels: 16 };

  it('decodeInBands with the latent guard raises NonFiniteError instead of a black picture, in the one readback', async () => {
    const weights = tinyMmdit(C16, 8);
    weights.get('final_layer.linear.bias')!.data[3] = Number.NaN;
    const gpu = await testGpu();
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(weights, { prefix: ORIGINAL_PREFIX }));
    const vae = await Vae.load(gpu.rt, await referenceVae());
    try {
      const graph = await denoiser.compile({ batch: 1, latentHeight: H, latentWidth: W, contextLength: L, cfg: false });
      graph.writeContext(randomArray(L * C16.contextDim, 1));
      graph.writePooled(randomArray(C16.pooledDim, 2));
      const latent = await sample(graph, { steps: 2, guidanceScale: 1, seed: 3 });
      const guard = latentGuard(graph);
      expect(guard).toBeDefined();
      const before = gpu.ctx.readbacks;
      const e = await thrown(decodeInBands(vae, latent, { batch: 1, latentHeight: H, latentWidth: W }, { guard: guard! }));
      expect(gpu.ctx.readbacks).toBe(before + 1);
      expect(e).toBeInstanceOf(NonFiniteError);
      expect(e).toMatchObject({ phase: 'sampling', tensor: 'latent', step: 1 });
    } finally {
      vae.dispose();
      denoiser.dispose();
    }
  });
});
