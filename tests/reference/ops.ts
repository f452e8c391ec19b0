/**
 * CPU reference ops. Each takes a float array constructor: Float64Array gives the truth, and
 * Float32Array (rounding every stored result to f32, accumulating in f32 via Math.fround) sizes
 * the tolerances: the f32 reference must itself pass the check it is used for.
 */
export type Real = Float32Array | Float64Array;
export type RealCtor = Float32ArrayConstructor | Float64ArrayConstructor;

const round = (ctor: RealCtor) => (ctor === Float32Array ? Math.fround : (x: number) => x);

/** Y[m, n] = Σ_k X[m, k]·W[n, k] + bias[n]. */
export function matmulRef(ctor: RealCtor, x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number, bias?: ArrayLike<number>): Real {
  const r = round(ctor);
  const y = new ctor(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc = r(acc + r((x[i * k + t] as number) * (w[j * k + t] as number)));
      y[i * n + j] = r(acc + (bias ? (bias[j] as number) : 0));
    }
  }
  return y;
}

export const silu = (x: number): number => x / (1 + Math.exp(-x));
export const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const quickGelu = (x: number): number => x / (1 + Math.exp(-1.702 * x));

/** erf to ~1e-15 by its Taylor series near 0 and its continued fraction beyond (tests only). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0;
    let term = ax;
    for (let n = 0; n < 200; n++) {
      sum += term / (2 * n + 1);
      term *= (-ax * ax) / (n + 1);
      if (Math.abs(term) < 1e-17) break;
    }
    return Math.sign(x) * ((2 / Math.sqrt(Math.PI)) * sum);
  }
  // erfc continued fraction (Lentz), accurate for x ≥ 3.
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
export const geluErf = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

export function mapRef(ctor: RealCtor, x: ArrayLike<number>, f: (v: number) => number): Real {
  const r = round(ctor);
  const out = new ctor(x.length);
  for (let i = 0; i < x.length; i++) out[i] = r(f(x[i] as number));
  return out;
}
