/**
 * Deterministic values for benchmarks: an LCG (Numerical Recipes' constants) mapped to [lo, hi).
 * Benchmarks need spread and repeatability, not statistical quality.
 */
export function lcgUniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (hi - lo) * (s / 2 ** 32);
  }
  return out;
}
