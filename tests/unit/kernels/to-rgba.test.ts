import { describe, expect, it } from 'vitest';
import { wholeImage } from '../../../src/kernels/image-rows.js';
import { toRgba } from '../../../src/kernels/to-rgba.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';
import { toByteRef } from '../../reference/image-ops.js';

const u32 = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

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
      const expected = toByteRef(x[3 * p]!) | (toByteRef(x[3 * p + 1]!) << 8) | (toByteRef(x[3 * p + 2]!) << 16) | (255 << 24);
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
    for (let p = 0; p < 2 * w; p++) expect(got[3 * w + p]! & 0xff).toBe(toByteRef(x[3 * p]!));
  });
});
