import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { ORIGINAL_PREFIX } from '../../src/models/mmdit/keys.js';
import { type RgbaImage } from '../../src/models/vae/index.js';
import { Vae } from '../../src/runtime/vae.js';
import { VAE_CASE_RUNNERS } from '../../src/node/verify-vae.js';
import { registerCaseRunner, runVectorSet, type VerifyReport } from '../../src/node/verify.js';
import { gaussianNoise } from '../../src/sampling/noise.js';
import { sample } from '../../src/runtime/sampler.js';
import { sd3Sigmas } from '../../src/sampling/schedule.js';
import { readTensor } from '../../src/tensor/read.js';
import { expectClose, maxAbsDiff } from '../reference/compare.js';
import { mmditReference, type RefConfig } from '../reference/mmdit.js';
import { randomArray } from '../reference/random.js';
import { cappedTestGpu, recordGpuRun, testGpu } from '../setup/gpu.js';
import { f32Weight } from '../setup/run-graph.js';
import { tinyMmdit, tinySafetensors } from '../unit/models/mmdit/tiny.js';
import { referenceVae } from '../unit/models/vae/sources.js';

const SHARED = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');
const VECTORS = join(process.env.MMDIT_VECTORS ?? join(SHARED, 'vectors'), 'text_vae');
const MiB = 2 ** 20;

describe('VAE reference vectors (verify)', () => {
  let report: VerifyReport;
  beforeAll(async () => {
    for (const [kind, runner] of Object.entries(VAE_CASE_RUNNERS)) registerCaseRunner(kind, runner);
    report = await runVectorSet({ dir: VECTORS, only: ['vae_decode', 'vae_encode'], gpu: await testGpu(), log: () => undefined });
  });

  it('runs every public VAE case: both layouts, decode and encode', () => {
    expect(report.cases.map((c) => c.name).sort()).toEqual(['vae/decode_6x10', 'vae/decode_8x8', 'vae/decode_8x8_diffusers', 'vae/encode_64']);
  });

  it('passes every case in f32 (float image 1e-4, uint8 exact or off by one, intermediates)', () => {
    for (const c of report.cases) {
      const failed = c.tensors.filter((t) => !t.pass).map((t) => `${t.name} ${t.maxAbs?.toExponential(2) ?? `${t.nonFinite} non-finite`}`);
      expect(c.error, c.name).toBeUndefined();
      expect(failed, c.name).toEqual([]);
      expect(c.pass, c.name).toBe(true);
      recordGpuRun(`verify ${c.name}`);
    }
  });
});

describe('image-to-image through the VAE', () => {
  // A tiny MM-DiT with the VAE's 16 latent channels; the SD3 sampler starts part-way from the
  // encoded image (MODEL_SPEC §4) and the result is decoded.
  const CONFIG: RefConfig = { depth: 1, hidden: 64, patch: 2, inChannels: 16, outChannels: 16, posEmbedMaxSize: 4, contextDim: 16, pooledDim: 8, mlpHidden: 128, qkNorm: false, dual: [] };
  const [H, W, L] = [6, 8, 3];

  it('encode → sample from denoise 0.5 → decode matches the f64 sampling loop from the encoded latent', async () => {
    const gpu = await testGpu();
    const vae = await Vae.load(gpu.rt, await referenceVae());
    const weights = tinyMmdit(CONFIG, 5);
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(weights, { prefix: ORIGINAL_PREFIX }));
    try {
      const image: RgbaImage = {
        width: 8 * W,
        height: 8 * H,
        data: Uint8ClampedArray.from({ length: 64 * H * W * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 37 + (i >> 7) * 11) % 256)),
      };
      const encoded = await vae.encode([image]);
      expect([encoded.latentHeight, encoded.latentWidth]).toEqual([H, W]);
      const context = randomArray(L * CONFIG.contextDim, 51);
      const pooled = randomArray(CONFIG.pooledDim, 52);
      const graph = await denoiser.compile({ batch: 1, latentHeight: H, latentWidth: W, contextLength: L, cfg: false });
      graph.writeContext(context);
      graph.writePooled(pooled);
      const init = f32Weight(gpu, 'init', [1, 16, H, W], encoded.latent);
      const noise = gaussianNoise(7, 1, 16 * H * W);
      const latent = await sample(graph, { steps: 4, guidanceScale: 1, noise, denoise: 0.5, initLatent: init });

      // The f64 loop of MODEL_SPEC §4 from the same start: the last 3 of 5 sigmas (trunc(4·0.5) dropped).
      const sigmas = sd3Sigmas(4, 3).slice(2);
      const f64 = new Map([...weights].map(([k, t]) => [k, t.data]));
      let x = Float64Array.from(noise, (v, i) => sigmas[0]! * v + (1 - sigmas[0]!) * encoded.latent[i]!);
      for (let k = 0; k < sigmas.length - 1; k++) {
        const { out } = mmditReference(f64, CONFIG, { x, t: [1000 * sigmas[k]!], context, y: pooled, batch: 1, height: H, width: W, contextLength: L });
        x = x.map((v, i) => v + (sigmas[k + 1]! - sigmas[k]!) * out[i]!);
      }
      const got = await readTensor(gpu.ctx, latent);
      expectClose(got, x, { atol: 5e-5, rtol: 5e-5 }, 'img2img latent');

      const [picture] = await vae.decode(latent, { batch: 1, latentHeight: H, latentWidth: W });
      const [fromReference] = await vae.decode(Float32Array.from(x), { batch: 1, latentHeight: H, latentWidth: W });
      expect([picture!.width, picture!.height]).toEqual([image.width, image.height]);
      expect(maxAbsDiff(picture!.data, fromReference!.data)).toBeLessThanOrEqual(1);
      expect(maxAbsDiff(picture!.data, image.data)).toBeGreaterThan(0);
      recordGpuRun('img2img end to end');
      graph.dispose();
    } finally {
      denoiser.dispose();
      vae.dispose();
    }
  });
});

// The 1024² decode (128×128 latent, 16 MiB cap) runs in `npm run bench`; CI decodes a 24×24
// latent (192² image) under a 512 KiB cap, which needs 12 bands.
describe('VAE decode in row bands', () => {
  it('decodes a random 24×24 latent within a 512 KiB binding cap in at least 9 bands exactly like the unsplit decode', async () => {
    const latent = randomArray(16 * 24 * 24, 1024, -3, 3);
    const shape = { batch: 1, latentHeight: 24, latentWidth: 24, floatImage: true };
    const runs: { image: Float32Array; rgba: Uint8ClampedArray; bands: number; peak: number; ms: number; cpu: number }[] = [];
    for (const cap of [512 * 1024, undefined]) {
      const gpu = await cappedTestGpu(cap ? { maxStorageBufferBindingSize: cap } : {});
      try {
        const vae = await Vae.load(gpu.rt, await referenceVae());
        const graph = await vae.compileDecoder(shape);
        gpu.ctx.write(graph.latent.buffer, 0, latent);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        graph.run();
        const [picture] = await graph.readImages();
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        runs.push({ image: await graph.readFloatImage(), rgba: picture!.data, bands: graph.bands, peak: gpu.ctx.memory.peakBytes, ms, cpu: (cpu.user + cpu.system) / 1000 });
        recordGpuRun(`vae 192² ${cap ? 'split' : 'unsplit'}`);
        vae.dispose();
      } finally {
        gpu.ctx.dispose();
      }
    }
    const [split, whole] = runs as [(typeof runs)[0], (typeof runs)[0]];
    console.log(
      `VAE 192² decode (reduced VAE): 512 KiB cap → ${split.bands} bands, peak ${(split.peak / MiB).toFixed(1)} MiB, ${(split.ms / 1000).toFixed(1)} s (${(split.cpu / 1000).toFixed(0)} CPU-s); ` +
        `unsplit → peak ${(whole.peak / MiB).toFixed(1)} MiB, ${(whole.ms / 1000).toFixed(1)} s (${(whole.cpu / 1000).toFixed(0)} CPU-s); ` +
        `max |Δ| float ${maxAbsDiff(split.image, whole.image).toExponential(2)}, uint8 ${maxAbsDiff(split.rgba, whole.rgba)}`,
    );
    expect(split.bands).toBeGreaterThanOrEqual(9);
    expect(whole.bands).toBe(1);
    expect(split.peak).toBeLessThan(whole.peak);
    expect(maxAbsDiff(split.image, whole.image)).toBeLessThan(1e-4);
    expect(maxAbsDiff(split.rgba, whole.rgba)).toBeLessThanOrEqual(1);
  }, 600_000);
});
