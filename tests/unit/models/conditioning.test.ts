import { describe, expect, it } from 'vitest';
import { assembleConditioning, padT5Rows } from '../../../src/models/conditioning.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

/** The §5 assembly on the CPU. */
function reference(batch: number, L: number, T: number, C: number, l: Float32Array, dL: number, g: Float32Array, dG: number, t5: Float32Array | null, dT: number): Float32Array {
  const out = new Float32Array(batch * (L + T) * C);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < L; t++) {
      const row = (b * (L + T) + t) * C;
      for (let c = 0; c < dL; c++) out[row + c] = l[(b * L + t) * dL + c] as number;
      for (let c = 0; c < dG; c++) out[row + dL + c] = g[(b * L + t) * dG + c] as number;
    }
    for (let t = 0; t < T && t5; t++) {
      for (let c = 0; c < dT; c++) out[(b * (L + T) + L + t) * C + c] = t5[(b * T + t) * dT + c] as number;
    }
  }
  return out;
}

describe('conditioning', () => {
  const cases: [string, number, number, number, number, number, number, number | null][] = [
    ['with T5 as wide as the context', 2, 7, 5, 24, 6, 10, 24],
    ['with a T5 narrower than the context (zero-padded)', 3, 4, 9, 20, 5, 7, 13],
    ['without T5 (zero rows)', 2, 7, 7, 16, 3, 5, null],
  ];
  for (const [title, batch, L, T, C, dL, dG, dT] of cases) {
    it(`assembles context and pooled exactly ${title}`, async () => {
      const gpu = await testGpu();
      const l = randomArray(batch * L * dL, 1);
      const g = randomArray(batch * L * dG, 2);
      const t5 = dT ? randomArray(batch * T * dT, 3) : null;
      const lp = randomArray(batch * dL, 4);
      const gp = randomArray(batch * dG, 5);
      const inputs: Record<string, Float32Array> = { l, g, lp, gp };
      if (t5) inputs.t5 = t5;
      const out = await runGraph(gpu, `conditioning ${title}`, (b) => {
        const r = assembleConditioning(b, {
          batch,
          lSeq: b.input('l', [batch, L, dL]),
          gSeq: b.input('g', [batch, L, dG]),
          t5Seq: dT ? b.input('t5', [batch, T, dT]) : null,
          lPooled: b.input('lp', [batch, dL]),
          gPooled: b.input('gp', [batch, dG]),
          clipTokens: L,
          t5Tokens: T,
          contextDim: C,
        });
        b.output('context', r.context);
        b.output('pooled', r.pooled);
      }, inputs);
      expect([...out.context!]).toEqual([...reference(batch, L, T, C, l, dL, g, dG, t5, dT ?? 0)]);
      const pooled = new Float32Array(batch * (dL + dG));
      for (let b = 0; b < batch; b++) {
        pooled.set(lp.subarray(b * dL, (b + 1) * dL), b * (dL + dG));
        pooled.set(gp.subarray(b * dG, (b + 1) * dG), b * (dL + dG) + dL);
      }
      expect([...out.pooled!]).toEqual([...pooled]);
    });
  }

  it('pads shorter T5 rows with 0 to the longest so cond and uncond rows batch together', () => {
    const { ids, tokens } = padT5Rows([[5, 6, 7, 1], [1]]);
    expect(tokens).toBe(4);
    expect([...ids]).toEqual([5, 6, 7, 1, 1, 0, 0, 0]);
  });
});
