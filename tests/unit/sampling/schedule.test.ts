import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { denoiseSigmas, sd3Sigmas, shiftedSigma, timestepFeatures } from '../../../src/sampling/schedule.js';

const SHARED = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');
const f32File = (path: string) => new Float32Array(Uint8Array.from(readFileSync(path)).buffer);

describe('SD3 schedule', () => {
  it('matches MODEL_SPEC §4 for 8 steps at shift 3 (doubly shifted)', () => {
    const expected = [1, 0.94754253, 0.88278775, 0.80083732, 0.6937931, 0.5480456, 0.33797217, 0.00892857, 0];
    const got = sd3Sigmas(8, 3);
    expect(got.length).toBe(9);
    got.forEach((s, i) => expect(s).toBeCloseTo(expected[i] as number, 8));
  });

  it('matches the sigmas stored with the public sampling case', () => {
    const index = JSON.parse(readFileSync(resolve(SHARED, 'vectors/index.json'), 'utf8')) as { cases: { kind: string; params?: { steps: number; shift: number; sigmas: number[] } }[] };
    const c = index.cases.find((x) => x.kind === 'sampling');
    expect(c?.params).toBeDefined();
    const got = sd3Sigmas(c!.params!.steps, c!.params!.shift);
    c!.params!.sigmas.forEach((s, i) => expect(Math.abs((got[i] as number) - s)).toBeLessThan(1e-12));
  });

  it('one step is [1, 0] for every shift and two steps end at σ(1000·σ_min)', () => {
    expect([...sd3Sigmas(1, 3)]).toEqual([1, 0]);
    expect([...sd3Sigmas(1, 1)]).toEqual([1, 0]);
    const two = sd3Sigmas(2, 3);
    expect(two[0]).toBe(1);
    expect(two[1]).toBeCloseTo(1 / 112, 14);
    expect([...sd3Sigmas(2, 1)]).toEqual([1, 0.001, 0]);
  });

  it('shift 1 is the identity σ = τ/1000', () => {
    expect(shiftedSigma(430.25, 1)).toBe(0.43025);
  });

  it('denoise drops trunc(steps·(1 − denoise)) sigmas in float64 (10 steps, 0.9 → none)', () => {
    const s = sd3Sigmas(10, 3);
    expect(denoiseSigmas(s, 0.9).length).toBe(11);
    expect([...denoiseSigmas(s, 0.5)]).toEqual([...s.slice(5)]);
    expect(denoiseSigmas(s, 1).length).toBe(11);
    expect(() => denoiseSigmas(s, 0)).toThrow(InvalidArgumentError);
  });

  it('rejects invalid steps and shifts by name', () => {
    expect(() => sd3Sigmas(0)).toThrow(/steps/);
    expect(() => sd3Sigmas(2.5)).toThrow(/steps/);
    expect(() => sd3Sigmas(4, 0)).toThrow(/shift/);
  });
});

describe('timestep features', () => {
  it('are cos then sin of t·exp(−ln(10000)·j/128), equal to the public t_freq vectors', () => {
    const dir = resolve(SHARED, 'vectors/c1_sd3m/forward_b2_32x32');
    const t = f32File(resolve(dir, 't.bin'));
    const ref = f32File(resolve(dir, 'int/t_freq.bin'));
    for (let b = 0; b < t.length; b++) {
      const got = Float32Array.from(timestepFeatures(t[b] as number));
      expect([...got]).toEqual([...ref.subarray(b * 256, (b + 1) * 256)]);
    }
  });
});
