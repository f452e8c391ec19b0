import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { type DenoiserGraph } from '../../../src/runtime/denoiser-graph.js';
import { loadDenoiser } from '../../../src/runtime/denoiser.js';
import { ORIGINAL_PREFIX } from '../../../src/models/mmdit/keys.js';
import { gaussianNoise } from '../../../src/sampling/noise.js';
import { sample } from '../../../src/runtime/sampler.js';
import { sd3Sigmas } from '../../../src/sampling/schedule.js';
import { readTensor } from '../../../src/tensor/read.js';
import { expectClose } from '../../reference/compare.js';
import { mmditReference, type RefConfig } from '../../reference/mmdit.js';
import { randomArray } from '../../reference/random.js';
import { recordGpuRun, testGpu } from '../../setup/gpu.js';
import { f32Weight } from '../../setup/run-graph.js';
import { tinyMmdit, tinySafetensors } from '../models/mmdit/tiny.js';

const CONFIG: RefConfig = { depth: 2, hidden: 64, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 4, contextDim: 16, pooledDim: 8, mlpHidden: 128, qkNorm: true, dual: [] };
const [H, W, L] = [4, 6, 3];
const TOL = { atol: 5e-5, rtol: 5e-5 };
const weights = tinyMmdit(CONFIG, 3);
const f64Weights = new Map([...weights].map(([k, t]) => [k, t.data]));
const perImage = CONFIG.inChannels * H * W;

/** The reference loop of MODEL_SPEC §4 in float64: x ← x + (σ_{k+1} − σ_k)·(v_u + w·(v_c − v_u)). */
function referenceSample(noise: Float32Array, context: Float32Array, y: Float32Array, sigmas: Float64Array, guidance: number, cfg: boolean, init?: Float32Array): Float64Array {
  const s0 = sigmas[0] as number;
  let x = Float64Array.from(noise, (v, i) => s0 * v + (1 - s0) * (init ? (init[i] as number) : 0));
  for (let k = 0; k < sigmas.length - 1; k++) {
    const sigma = sigmas[k] as number;
    const rows = cfg ? 2 : 1;
    const { out } = mmditReference(f64Weights, CONFIG, {
      x: cfg ? [...x, ...x] : x, t: Array(rows).fill(1000 * sigma), context, y, batch: rows, height: H, width: W, contextLength: L,
    });
    const ds = (sigmas[k + 1] as number) - sigma;
    x = x.map((v, i) => {
      const c = out[i] as number;
      const vel = cfg ? (out[i + perImage] as number) + guidance * (c - (out[i + perImage] as number)) : c;
      return v + ds * vel;
    });
  }
  return x;
}

async function setup(cfg: boolean): Promise<{ graph: DenoiserGraph; context: Float32Array; y: Float32Array; dispose(): void }> {
  const gpu = await testGpu();
  const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(weights, { prefix: ORIGINAL_PREFIX }));
  const rows = cfg ? 2 : 1;
  const context = randomArray(rows * L * CONFIG.contextDim, 41);
  const y = randomArray(rows * CONFIG.pooledDim, 42);
  const graph = await denoiser.compile({ batch: 1, latentHeight: H, latentWidth: W, contextLength: L, cfg });
  graph.writeContext(context);
  graph.writePooled(y);
  return { graph, context, y, dispose: () => denoiser.dispose() };
}

describe('sample', () => {
  it('runs Euler with CFG on the GPU like the f64 reference loop, reporting every step', async () => {
    const s = await setup(true);
    try {
      const noise = gaussianNoise(5, 1, perImage);
      const steps: number[] = [];
      const latent = await sample(s.graph, { steps: 3, guidanceScale: 4.5, shift: 3, noise, onStep: (i) => steps.push(i) });
      expect(steps).toEqual([0, 1, 2]);
      const ref = referenceSample(noise, s.context, s.y, sd3Sigmas(3, 3), 4.5, true);
      expectClose(await readTensor(s.graph.gpu, latent), ref, TOL, 'sampled latent');
      recordGpuRun('sample cfg');
    } finally {
      s.dispose();
    }
  });

  it('guidance 1 runs a graph without the uncond half; one step gives x₀ − v at t = 1000', async () => {
    const s = await setup(false);
    try {
      const got = await readTensor(s.graph.gpu, await sample(s.graph, { steps: 1, guidanceScale: 1, seed: 9 }));
      const ref = referenceSample(gaussianNoise(9, 1, perImage), s.context, s.y, new Float64Array([1, 0]), 1, false);
      expectClose(got, ref, TOL, 'one step');
      await expect(sample(s.graph, { steps: 2, guidanceScale: 2 })).rejects.toThrow(InvalidArgumentError);
      recordGpuRun('sample no cfg');
    } finally {
      s.dispose();
    }
  });

  it('image-to-image starts part-way: σ₀·noise + (1 − σ₀)·init, then the remaining steps', async () => {
    const s = await setup(false);
    try {
      const init = randomArray(perImage, 43);
      const initTensor = f32Weight(await testGpu(), 'init', [1, CONFIG.inChannels, H, W], init);
      const noise = gaussianNoise(1, 1, perImage);
      const got = await readTensor(s.graph.gpu, await sample(s.graph, { steps: 4, guidanceScale: 1, noise, denoise: 0.5, initLatent: initTensor }));
      const sigmas = sd3Sigmas(4, 3).slice(2);
      expectClose(got, referenceSample(noise, s.context, s.y, sigmas, 1, false, init), TOL, 'img2img');
      recordGpuRun('sample img2img');
    } finally {
      s.dispose();
    }
  });

  it('an abort between steps rejects with the reason; the graph then samples correctly again', async () => {
    const s = await setup(true);
    try {
      const controller = new AbortController();
      const noise = gaussianNoise(2, 1, perImage);
      const run = sample(s.graph, { steps: 6, guidanceScale: 3, noise, signal: controller.signal, onStep: () => controller.abort() });
      await expect(run).rejects.toThrow(/abort/i);
      const again = await readTensor(s.graph.gpu, await sample(s.graph, { steps: 2, guidanceScale: 3, noise }));
      expectClose(again, referenceSample(noise, s.context, s.y, sd3Sigmas(2, 3), 3, true), TOL, 'after abort');
      recordGpuRun('sample abort');
    } finally {
      s.dispose();
    }
  });

  it('reports no step once an abort that lands while a step runs is seen', async () => {
    const s = await setup(true);
    try {
      const controller = new AbortController();
      const noise = gaussianNoise(3, 1, perImage);
      let afterAbort = 0;
      const run = sample(s.graph, {
        steps: 6,
        guidanceScale: 3,
        noise,
        signal: controller.signal,
        onStep: (i) => {
          if (controller.signal.aborted) afterAbort++;
          // The abort lands from a timer, i.e. while the next step is on the GPU, as a click would.
          if (i === 0) setTimeout(() => controller.abort(), 0);
        },
      });
      await expect(run).rejects.toThrow(/abort/i);
      expect(afterAbort).toBe(0);
    } finally {
      s.dispose();
    }
  });

  it('rejects bad options before GPU work, naming them', async () => {
    const s = await setup(true);
    try {
      await expect(sample(s.graph, { steps: 0, guidanceScale: 2 })).rejects.toThrow(/steps/);
      await expect(sample(s.graph, { steps: 201, guidanceScale: 2 })).rejects.toThrow(/steps/);
      await expect(sample(s.graph, { steps: 2, guidanceScale: -1 })).rejects.toThrow(/guidanceScale/);
      await expect(sample(s.graph, { steps: 2, guidanceScale: 2, noise: new Float32Array(3) })).rejects.toThrow(/noise/);
      await expect(sample(s.graph, { steps: 2, guidanceScale: 2, sigmas: new Float64Array(2) })).rejects.toThrow(/sigmas/);
      await expect(sample(s.graph, { steps: 2, guidanceScale: 2, denoise: 0.5 })).rejects.toThrow(/initLatent/);
      await expect(sample(s.graph, { steps: 2, guidanceScale: 2, seed: -3 })).rejects.toThrow(/seed/);
    } finally {
      s.dispose();
    }
  });
});
