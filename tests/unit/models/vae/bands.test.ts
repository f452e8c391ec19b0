import { describe, expect, it } from 'vitest';
import { LimitExceededError } from '../../../../src/errors.js';
import { decoderMapKinds, encoderMapKinds, joinBands, planBands, SD3_VAE_DEFAULTS, type VaeConfig } from '../../../../src/models/vae/index.js';
import { Vae } from '../../../../src/runtime/vae.js';
import { maxAbsDiff } from '../../../reference/compare.js';
import { randomArray } from '../../../reference/random.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { referenceVae } from './sources.js';

describe('VAE row bands', () => {
  const shape = { batch: 1, latentHeight: 128, latentWidth: 128, precision: 'f32' as const };

  it('chooses the fewest bands that fit the binding cap, halo rows included', () => {
    // 1024² × 32 channels f32 is 128 MiB: 16 MiB bands hold 15 latent rows (120 rows + 2 halos).
    const plan = planBands([{ scale: 8, channels: 32 }, { scale: 1, channels: 64 }], { ...shape, maxBinding: 16 * 2 ** 20 });
    expect(plan.bounds.length - 1).toBe(9);
    expect(plan.bounds[0]).toBe(0);
    expect(plan.bounds.at(-1)).toBe(128);
    expect(planBands([{ scale: 8, channels: 32 }], { ...shape, maxBinding: 2 ** 30 }).bounds).toEqual([0, 128]);
  });

  it('plans the full SD3 VAE at 1024² within 128 MiB and 256 MiB bindings', () => {
    const sd3: VaeConfig = { ...SD3_VAE_DEFAULTS, channels: [128, 256, 512, 512], latentChannels: 16, imageChannels: 3, decoderBlocks: 3, encoderBlocks: 2, hasDecoder: true, hasEncoder: true };
    for (const [cap, bands] of [[128, 9], [256, 5]] as const) {
      const s = { ...shape, maxBinding: cap * 2 ** 20 };
      expect(planBands(decoderMapKinds(sd3), s).bounds.length - 1, `decode, ${cap} MiB`).toBe(bands);
      expect(planBands(encoderMapKinds(sd3), s).bounds.length - 1, `encode, ${cap} MiB`).toBeLessThanOrEqual(bands);
    }
  });

  it('throws LimitExceededError naming the binding limit when one latent row cannot fit', () => {
    expect(() => planBands([{ scale: 8, channels: 512 }], { ...shape, maxBinding: 2 ** 20 })).toThrow(LimitExceededError);
    expect(() => planBands([{ scale: 8, channels: 512 }], { ...shape, maxBinding: 2 ** 20 })).toThrow(/maxStorageBufferBindingSize/);
  });

  it('joins bands read back with their halo rows into one map', () => {
    const layout = {
      height: 4, width: 2, channels: 1, batch: 1,
      bands: [{ row0: 0, rows: 2, bufferRow0: 0, bufferRows: 3 }, { row0: 2, rows: 2, bufferRow0: 1, bufferRows: 3 }],
    };
    const joined = joinBands(layout, [Float32Array.from([0, 1, 2, 3, 9, 9]), Float32Array.from([9, 9, 4, 5, 6, 7])]);
    expect(Array.from(joined)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a decode split into 3 bands equals the unsplit decode (7×5 latent)', async () => {
    const gpu = await testGpu();
    const vae = await Vae.load(gpu.rt, await referenceVae());
    try {
      const s = { batch: 2, latentHeight: 7, latentWidth: 5, taps: true };
      const latent = randomArray(2 * 16 * 7 * 5, 31, -2.5, 2.5);
      const results = [];
      for (const minBands of [1, 3]) {
        const g = await vae.compileDecoder({ ...s, minBands });
        expect(g.bands).toBe(minBands);
        gpu.ctx.write(g.latent.buffer, 0, latent);
        g.run();
        results.push({ image: await g.readFloatImage(), mid: await g.readTap('mid.attn_1'), up: await g.readTap('up.1.upsample'), rgba: await g.readImages() });
        recordGpuRun(`vae decode ${minBands} bands`);
      }
      const [whole, split] = results as [(typeof results)[0], (typeof results)[0]];
      // Only the order in which GroupNorm partial statistics combine differs: f32 rounding, within
      // the vectors' tolerances (image 1e-4, deep intermediates 2e-4).
      expect(maxAbsDiff(split.mid, whole.mid)).toBeLessThan(2e-4);
      expect(maxAbsDiff(split.up, whole.up)).toBeLessThan(2e-4);
      expect(maxAbsDiff(split.image, whole.image)).toBeLessThan(1e-4);
      for (let i = 0; i < 2; i++) expect(maxAbsDiff(split.rgba[i]!.data, whole.rgba[i]!.data)).toBeLessThanOrEqual(1);
      console.log(`7×5 latent, 3 bands vs 1: image max-abs ${maxAbsDiff(split.image, whole.image).toExponential(2)}, mid.attn_1 ${maxAbsDiff(split.mid, whole.mid).toExponential(2)}`);
    } finally {
      vae.dispose();
    }
  });

  it('an encode split into 3 bands equals the unsplit encode (56×40 image)', async () => {
    const gpu = await testGpu();
    const vae = await Vae.load(gpu.rt, await referenceVae());
    try {
      const [h, w] = [56, 40];
      const pixels = Uint8Array.from(randomArray(h * w * 4, 32, 0, 256), (v) => Math.floor(v));
      const results = [];
      for (const minBands of [1, 3]) {
        const g = await vae.compileEncoder({ batch: 1, latentHeight: h / 8, latentWidth: w / 8, minBands, sample: true });
        expect(g.bands).toBe(minBands);
        gpu.ctx.write(g.rgba.buffer, 0, pixels);
        gpu.ctx.write(g.noise.buffer, 0, randomArray(16 * (h / 8) * (w / 8), 33));
        g.run();
        const read = async (name: 'mean' | 'logvar' | 'latent') => new Float32Array(await gpu.ctx.read(g.output(name).buffer, 0, 16 * (h / 8) * (w / 8) * 4));
        results.push({ mean: await read('mean'), logvar: await read('logvar'), latent: await read('latent') });
        recordGpuRun(`vae encode ${minBands} bands`);
      }
      const [whole, split] = results as [(typeof results)[0], (typeof results)[0]];
      expect(maxAbsDiff(split.mean, whole.mean)).toBeLessThan(1e-4);
      expect(maxAbsDiff(split.logvar, whole.logvar)).toBeLessThan(1e-4);
      expect(maxAbsDiff(split.latent, whole.latent)).toBeLessThan(2e-4);
    } finally {
      vae.dispose();
    }
  });
});
