import { expect } from 'vitest';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

export interface CloseReport {
  readonly ok: boolean;
  readonly worstIndex: number;
  readonly worstExcess: number;
  readonly maxAbs: number;
}

/** Elementwise `|got − ref| ≤ atol + rtol·|ref|`; reports the worst element. */
export function closeReport(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): CloseReport {
  let worstIndex = -1;
  let worstExcess = -Infinity;
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] as number;
    const d = Math.abs((got[i] as number) - r);
    const excess = Number.isNaN(d) ? Infinity : d - (tol.atol + tol.rtol * Math.abs(r));
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = i;
    }
  }
  return { ok: got.length === ref.length && worstExcess <= 0, worstIndex, worstExcess, maxAbs };
}

/** Fails with the worst index, both values and the shape when any element is out of tolerance. */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance, what: string, shape?: readonly number[]): void {
  expect(got.length, `${what}: length`).toBe(ref.length);
  const r = closeReport(got, ref, tol);
  if (!r.ok) {
    const i = r.worstIndex;
    expect.fail(
      `${what}${shape ? ' ' + JSON.stringify(shape) : ''}: element ${i} got ${got[i]} expected ${ref[i]} ` +
        `(|diff| ${Math.abs((got[i] as number) - (ref[i] as number))} > ${tol.atol} + ${tol.rtol}·|ref|; max abs ${r.maxAbs})`,
    );
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
