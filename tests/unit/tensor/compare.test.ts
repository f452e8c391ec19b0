import { describe, expect, it } from 'vitest';
import { compareTensors } from '../../../src/tensor/compare.js';

describe('compareTensors', () => {
  it('reports max-abs, relative L2 and the pooled sums', () => {
    const c = compareTensors([1, 2, 2], [1, 2, 4]);
    expect(c.maxAbs).toBe(2);
    expect(c.diff2).toBe(4);
    expect(c.ref2).toBe(21);
    expect(c.relL2).toBeCloseTo(Math.sqrt(4 / 21), 15);
    expect(c.worstIndex).toBe(2);
    expect(c.pass).toBe(true); // no bound given: only lengths and NaN decide
  });

  it('an elementwise bound atol + rtol·|ref| names the element furthest outside it', () => {
    const ref = [100, 1, -3];
    const got = [100.5, 1.2, -3];
    expect(compareTensors(got, ref, { atol: 0.1, rtol: 0.01 }).pass).toBe(false); // 0.2 > 0.1 + 0.01
    const c = compareTensors(got, ref, { atol: 0.1, rtol: 0.01 });
    expect(c.worstIndex).toBe(1);
    expect(c.worstExcess).toBeCloseTo(0.2 - 0.11, 12);
    expect(compareTensors(got, ref, { atol: 0.25, rtol: 0 }).pass).toBe(false); // 0.5 at element 0
    expect(compareTensors(got, ref, { atol: 0.2, rtol: 0.01 }).pass).toBe(true);
  });

  it('a relative-L2 bound, alone or with an elementwise one', () => {
    const ref = [3, 4];
    const got = [3, 4.5];
    expect(compareTensors(got, ref, { relL2: 0.1 }).pass).toBe(true); // 0.5 / 5
    expect(compareTensors(got, ref, { relL2: 0.09 }).pass).toBe(false);
    expect(compareTensors(got, ref, { relL2: 0.1, atol: 0.4 }).pass).toBe(false);
  });

  it('NaN differences and length mismatches fail with Infinity figures', () => {
    const nan = compareTensors([1, NaN, 3], [1, 2, 3], { atol: 1 });
    expect([nan.maxAbs, nan.relL2, nan.pass, nan.worstIndex]).toEqual([Infinity, Infinity, false, 1]);
    expect(compareTensors([1, NaN], [1, 2]).pass).toBe(false);
    const short = compareTensors([1, 2], [1, 2, 3], { atol: 1 });
    expect([short.sameLength, short.maxAbs, short.pass]).toEqual([false, Infinity, false]);
  });

  it('zeros against zeros are equal; anything against zeros has infinite relative L2', () => {
    expect(compareTensors([0, 0], [0, 0]).relL2).toBe(0);
    expect(compareTensors([], []).pass).toBe(true);
    expect(compareTensors([1e-9, 0], [0, 0]).relL2).toBe(Infinity);
  });
});
