import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, NonFiniteError } from '../../../src/errors.js';
import { assertFinite, assertSchedule, firstNonFinite } from '../../../src/tensor/finite.js';

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}

describe('CPU non-finite guards', () => {
  it('finds the first NaN or infinity, and nothing in finite extremes', () => {
    expect(firstNonFinite(Float32Array.of(3.4e38, -0, 1e-45, -3.4e38))).toBe(-1);
    expect(firstNonFinite(Float32Array.of(0, 1, Number.NaN, Number.POSITIVE_INFINITY))).toBe(2);
    expect(firstNonFinite([1, Number.NEGATIVE_INFINITY])).toBe(1);
  });

  it('assertFinite names the tensor, the first bad index and the value', () => {
    const noise = new Float32Array(1000);
    noise[613] = Number.NaN;
    const e = thrown(() => assertFinite('noise', noise)) as NonFiniteError;
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toMatchObject({ phase: 'input', tensor: 'noise', index: 613, value: 'NaN', step: null });
    expect(e.message).toMatch(/noise holds a non-finite value \(NaN\) at index 613/);
    expect((thrown(() => assertFinite('pooled', Float32Array.of(Number.NEGATIVE_INFINITY))) as NonFiniteError).value).toBe('-Infinity');
    expect(() => assertFinite('context', new Float32Array(8))).not.toThrow();
  });

  it('a schedule must be finite, ≥ 0 and strictly decreasing', () => {
    expect(() => assertSchedule([1, 0.75, 0.5, 0])).not.toThrow();
    const rising = thrown(() => assertSchedule([1, 0.5, 0.7, 0])) as InvalidArgumentError;
    expect(rising).toBeInstanceOf(InvalidArgumentError);
    expect(rising.parameter).toBe('sigmas[2]');
    expect(rising.message).toMatch(/must decrease/);
    expect(thrown(() => assertSchedule([1, 1, 0]))).toBeInstanceOf(InvalidArgumentError);
    expect((thrown(() => assertSchedule([1, Number.NaN, 0])) as NonFiniteError).index).toBe(1);
    expect((thrown(() => assertSchedule([1, 0.5, -0.1])) as InvalidArgumentError).parameter).toBe('sigmas[2]');
  });
});
