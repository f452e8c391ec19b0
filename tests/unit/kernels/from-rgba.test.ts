import { describe, it } from 'vitest';
import { fromRgba } from '../../../src/kernels/from-rgba.js';
import { wholeImage } from '../../../src/kernels/image-rows.js';
import { expectClose } from '../../reference/compare.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

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
