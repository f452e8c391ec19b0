import { describe, expect, it } from 'vitest';
import { fromRgba } from '../../../src/kernels/from-rgba.js';
import { wholeImage } from '../../../src/kernels/image-rows.js';
import { latentPreview, previewFactorTable, SD3_LATENT_RGB_FACTORS } from '../../../src/kernels/latent-preview.js';
import { toRgba } from '../../../src/kernels/to-rgba.js';
import { vaeLatentIn } from '../../../src/kernels/vae-latent-in.js';
import { vaePosterior } from '../../../src/kernels/vae-posterior.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** The reference's float32 conversion: trunc(255·clamp((x+1)/2, 0, 1)). */
function byteRef(x: number): number {
  const y = Math.min(1, Math.max(0, Math.fround(Math.fround(x + 1) / 2)));
  return Math.trunc(Math.fround(255 * y));
}

describe('to_rgba', () => {
  it('converts by truncation exactly as the reference, clamping out-of-range values', async () => {
    const gpu = await testGpu();
    const [batch, h, w] = [2, 3, 5];
    const x = randomArray(batch * h * w * 3, 3, -1.3, 1.3);
    // Values whose 255·y lands exactly on or just below an integer: truncation, not rounding.
    x.set([-1, 1, 0, 2 * (100 / 255) - 1, Math.fround(2 * (100.99 / 255) - 1), -0.5], 0);
    const out = await runGraph(gpu, 'to_rgba', (b) => {
      const rgba = b.temp([batch, h * w], 'rgba', 'u32');
      toRgba(b, wholeImage(b.input('x', [batch, h * w, 3]), h), rgba, { width: w, height: h });
      b.output('rgba', rgba);
    }, { x });
    const got = u32(out.rgba!);
    for (let p = 0; p < batch * h * w; p++) {
      const expected = byteRef(x[3 * p]!) | (byteRef(x[3 * p + 1]!) << 8) | (byteRef(x[3 * p + 2]!) << 16) | (255 << 24);
      expect(got[p], `pixel ${p}`).toBe(expected >>> 0);
    }
  });

  it('writes a row band into its rows of the whole image', async () => {
    const gpu = await testGpu();
    const [h, w] = [6, 4];
    const x = randomArray(2 * w * 3, 4);
    const out = await runGraph(gpu, 'to_rgba band', (b) => {
      const rgba = b.temp([1, h * w], 'rgba', 'u32');
      toRgba(b, { value: b.input('x', [1, 2 * w, 3]), row0: 3, rows: 2 }, rgba, { width: w, height: h });
      b.output('rgba', rgba);
    }, { x });
    const got = u32(out.rgba!);
    for (let p = 0; p < 2 * w; p++) expect(got[3 * w + p]! & 0xff).toBe(byteRef(x[3 * p]!));
  });
});

describe('from_rgba', () => {
  it('maps bytes to 2·(u8/255) − 1 with a zero fourth channel', async () => {
    const gpu = await testGpu();
    const [batch, h, w] = [2, 3, 4];
    const pixels = new Uint32Array(batch * h * w).map((_, i) => ((i * 2654435761) >>> 0) | 0);
    pixels[0] = 0xff00ff00;
    const out = await runGraph(gpu, 'from_rgba', (b) => {
      const y = b.temp([batch, h * w, 4], 'y');
      fromRgba(b, b.input('rgba', [batch, h * w], 'u32'), wholeImage(y, h), { width: w, height: h, row0: 0, rows: h });
      b.output('y', y);
    }, { rgba: pixels });
    const ref = new Float64Array(batch * h * w * 4);
    pixels.forEach((p, i) => {
      for (let c = 0; c < 3; c++) ref[4 * i + c] = 2 * (((p >>> (8 * c)) & 0xff) / 255) - 1;
    });
    expectClose(out.y!, ref, { atol: 2e-7, rtol: 0 }, 'from_rgba');
  });
});

describe('latent_preview', () => {
  it('uses the published SD3 factors and converts like to_rgba', async () => {
    const gpu = await testGpu();
    const [batch, pixels] = [2, 37];
    const latent = randomArray(batch * 16 * pixels, 9, -3, 3);
    const table = previewFactorTable();
    expect(table.length).toBe(51);
    expect(SD3_LATENT_RGB_FACTORS[15]).toEqual([-0.1448, -0.1463, -0.1189]);
    const out = await runGraph(gpu, 'latent_preview', (b) => {
      b.output('rgba', latentPreview(b, b.input('latent', [batch, 16, 1, pixels], 'f32'), b.constant('factors', [51], 'f32', table)));
    }, { latent });
    const got = u32(out.rgba!);
    let offByOne = 0;
    for (let p = 0; p < batch * pixels; p++) {
      for (let c = 0; c < 3; c++) {
        let v = table[48 + c]!;
        const [bi, q] = [Math.floor(p / pixels), p % pixels];
        for (let k = 0; k < 16; k++) v += latent[(bi * 16 + k) * pixels + q]! * table[k * 3 + c]!;
        const diff = Math.abs(((got[p]! >>> (8 * c)) & 0xff) - byteRef(v));
        expect(diff, `pixel ${p} channel ${c}`).toBeLessThanOrEqual(1);
        offByOne += diff;
      }
      expect(got[p]! >>> 24).toBe(255);
    }
    expect(offByOne).toBeLessThan(3);
  });
});

describe('vae_posterior', () => {
  for (const withNoise of [false, true]) {
    it(`splits the moments, clamps logvar and applies process_in (${withNoise ? 'seeded sample' : 'mean'})`, async () => {
      const gpu = await testGpu();
      const [batch, h, w, c] = [2, 3, 5, 4];
      const moments = randomArray(batch * h * w * 2 * c, 11, -40, 30);
      const noise = randomArray(batch * h * w * c, 12);
      const out = await runGraph(gpu, 'vae_posterior', (b) => {
        const mk = (name: string) => b.temp([batch, c, h, w], name, 'f32');
        const outs = { mean: mk('mean'), logvar: mk('logvar'), latent: mk('latent') };
        // Two bands of the moments: rows [0, 2) and [2, 3).
        const m0 = b.input('m0', [batch, 2 * w, 2 * c]);
        const m1 = b.input('m1', [batch, w, 2 * c]);
        const n = withNoise ? b.input('noise', [batch, c, h, w], 'f32') : null;
        const common = { width: w, height: h, shift: 0.0609, scale: 1.5305, noise: n };
        vaePosterior(b, { value: m0, row0: 0, rows: 2 }, outs, { ...common, row0: 0, rows: 2 });
        vaePosterior(b, { value: m1, row0: 2, rows: 1 }, outs, { ...common, row0: 2, rows: 1 });
        for (const [k, v] of Object.entries(outs)) b.output(k, v);
      }, {
        m0: Float32Array.from({ length: batch * 2 * w * 2 * c }, (_, i) => moments[Math.floor(i / (2 * w * 2 * c)) * h * w * 2 * c + (i % (2 * w * 2 * c))]!),
        m1: Float32Array.from({ length: batch * w * 2 * c }, (_, i) => moments[Math.floor(i / (w * 2 * c)) * h * w * 2 * c + 2 * w * 2 * c + (i % (w * 2 * c))]!),
        ...(withNoise ? { noise } : {}),
      });
      const mean = new Float64Array(batch * h * w * c);
      const logvar = new Float64Array(mean.length);
      const latent = new Float64Array(mean.length);
      for (let p = 0; p < batch * h * w; p++) {
        for (let k = 0; k < c; k++) {
          const [bi, q] = [Math.floor(p / (h * w)), p % (h * w)];
          const i = (bi * c + k) * h * w + q;
          mean[i] = moments[p * 2 * c + k]!;
          logvar[i] = Math.min(20, Math.max(-30, moments[p * 2 * c + c + k]!));
          const sample = withNoise ? mean[i]! + Math.exp(0.5 * logvar[i]!) * noise[i]! : mean[i]!;
          latent[i] = (sample - 0.0609) * 1.5305;
        }
      }
      expectClose(out.mean!, mean, { atol: 0, rtol: 0 }, 'mean');
      expectClose(out.logvar!, logvar, { atol: 0, rtol: 0 }, 'logvar');
      expectClose(out.latent!, latent, { atol: 1e-6, rtol: 2e-6 }, 'latent');
    });
  }
});

describe('vae_latent_in', () => {
  it('applies process_out and turns NCHW into NHWC', async () => {
    const gpu = await testGpu();
    const [batch, c, h, w] = [2, 16, 3, 5];
    const latent = randomArray(batch * c * h * w, 13, -4, 4);
    const out = await runGraph(gpu, 'vae_latent_in', (b) => {
      b.output('z', vaeLatentIn(b, b.input('latent', [batch, c, h, w], 'f32'), { scale: 1.5305, shift: 0.0609 }));
    }, { latent });
    const ref = new Float64Array(latent.length);
    for (let bi = 0; bi < batch; bi++) for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) ref[(bi * h * w + p) * c + k] = latent[(bi * c + k) * h * w + p]! / 1.5305 + 0.0609;
    expectClose(out.z!, ref, { atol: 1e-7, rtol: 1e-7 }, 'z');
  });
});
