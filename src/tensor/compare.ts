/**
 * The one comparison of a computed tensor with its reference, used by `verify`, the demo page and
 * the tests: max |got − ref|, relative L2, and the element that is furthest out of tolerance.
 * Pure (no GPU), float64 arithmetic.
 */

/**
 * What a comparison must meet; every bound given must hold. `atol`/`rtol` bound each element:
 * `|got − ref| ≤ atol + rtol·|ref|`; `relL2` bounds `‖got − ref‖₂ / ‖ref‖₂`.
 */
export interface Tolerance {
  readonly atol?: number;
  readonly rtol?: number;
  readonly relL2?: number;
}

export interface Comparison {
  /** Both have the same number of elements (when not, every figure below is Infinity). */
  readonly sameLength: boolean;
  /** max |got − ref|; Infinity when any difference is NaN. */
  readonly maxAbs: number;
  /** ‖got − ref‖₂ / ‖ref‖₂ (0 for two zero tensors, Infinity for a non-zero one against zeros). */
  readonly relL2: number;
  /** Σ (got − ref)² and Σ ref², to pool the relative L2 of several tensors. */
  readonly diff2: number;
  readonly ref2: number;
  /**
   * The element with the largest excess over `atol + rtol·|ref|` (over 0 when neither is given:
   * the largest difference); -1 for empty tensors.
   */
  readonly worstIndex: number;
  /** That excess: ≤ 0 when every element is inside the elementwise bound. */
  readonly worstExcess: number;
  /** Same length, no NaN difference, and every bound of the tolerance met. */
  readonly pass: boolean;
}

export function compareTensors(got: ArrayLike<number>, ref: ArrayLike<number>, tolerance: Tolerance = {}): Comparison {
  if (got.length !== ref.length) {
    return { sameLength: false, maxAbs: Infinity, relL2: Infinity, diff2: Infinity, ref2: 0, worstIndex: -1, worstExcess: Infinity, pass: false };
  }
  const atol = tolerance.atol ?? 0;
  const rtol = tolerance.rtol ?? 0;
  let maxAbs = 0;
  let diff2 = 0;
  let ref2 = 0;
  let worstIndex = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] as number;
    const d = Math.abs((got[i] as number) - r);
    const excess = Number.isNaN(d) ? Infinity : d - (atol + rtol * Math.abs(r));
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = i;
    }
    if (Number.isNaN(d)) {
      maxAbs = Infinity;
      diff2 = Infinity;
    } else {
      if (d > maxAbs) maxAbs = d;
      diff2 += d * d;
    }
    ref2 += r * r;
  }
  const relL2 = ref2 > 0 ? Math.sqrt(diff2 / ref2) : diff2 > 0 ? Infinity : 0;
  const elementwise = tolerance.atol !== undefined || tolerance.rtol !== undefined;
  const pass =
    maxAbs !== Infinity &&
    (!elementwise || worstExcess <= 0) &&
    (tolerance.relL2 === undefined || relL2 <= tolerance.relL2);
  return { sameLength: true, maxAbs, relL2, diff2, ref2, worstIndex, worstExcess: worstIndex < 0 ? 0 : worstExcess, pass };
}
