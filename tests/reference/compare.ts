import { expect } from 'vitest';
import { compareTensors } from '../../src/tensor/compare.js';

export { compareTensors };

/** The elementwise bound of a test: `|got − ref| ≤ atol + rtol·|ref|` for every element. */
export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** Fails with the worst index, both values and the shape when any element is out of tolerance. */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance, what: string, shape?: readonly number[]): void {
  expect(got.length, `${what}: length`).toBe(ref.length);
  const r = compareTensors(got, ref, tol);
  if (!r.pass) {
    const i = r.worstIndex;
    expect.fail(
      `${what}${shape ? ' ' + JSON.stringify(shape) : ''}: element ${i} got ${got[i]} expected ${ref[i]} ` +
        `(|diff| ${Math.abs((got[i] as number) - (ref[i] as number))} > ${tol.atol} + ${tol.rtol}·|ref|; max abs ${r.maxAbs})`,
    );
  }
}

/** max |a − b| (Infinity for a NaN difference or different lengths). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return compareTensors(a, b).maxAbs;
}
