import { describe, expect, it } from 'vitest';
import { unpatchify } from '../../../src/kernels/unpatchify.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

describe('unpatchify', () => {
  const cases: [number, number, number, number, number][] = [
    [2, 16, 4, 6, 2],
    [1, 3, 9, 6, 3],
    [3, 1, 2, 2, 1],
  ];
  for (const [batch, c, h, w, p] of cases) {
    it(`inverts the token-major patch layout for B=${batch}, C=${c}, ${h}×${w}, p=${p}`, async () => {
      const gpu = await testGpu();
      const tokens = (h / p) * (w / p);
      const z = randomArray(batch * tokens * p * p * c, batch + c + h);
      const out = await runGraph(gpu, `unpatchify ${batch}x${c}x${h}x${w}`, (b) => {
        b.output('out', unpatchify(b, b.input('z', [batch, tokens, p * p * c]), { channels: c, height: h, width: w, patch: p }));
      }, { z });
      // The reference's reshape [B,h,w,p,p,C] → permute to [B,C,h,p,w,p] → reshape.
      const ref = new Float32Array(batch * c * h * w);
      const [th, tw] = [h / p, w / p];
      for (let b = 0; b < batch; b++)
        for (let r = 0; r < th; r++)
          for (let col = 0; col < tw; col++)
            for (let ky = 0; ky < p; ky++)
              for (let kx = 0; kx < p; kx++)
                for (let ch = 0; ch < c; ch++) {
                  const src = (((b * th + r) * tw + col) * p * p + ky * p + kx) * c + ch;
                  ref[((b * c + ch) * h + r * p + ky) * w + col * p + kx] = z[src] as number;
                }
      expect([...out.out!]).toEqual([...ref]);
    });
  }
});
