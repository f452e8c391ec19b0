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

/** Token rows gathered by id, plus position rows `pos[posOffset + r mod tokens]` (f32 sums, as the kernel stores them). */
export function embedRef(ids: Uint32Array, tok: Float32Array, dim: number, tokens: number, pos: Float32Array | null, posOffset: number): Float32Array {
  const out = new Float32Array(ids.length * dim);
  ids.forEach((id, r) => {
    for (let c = 0; c < dim; c++) out[r * dim + c] = Math.fround((tok[id * dim + c] as number) + (pos ? (pos[(posOffset + (r % tokens)) * dim + c] as number) : 0));
  });
  return out;
}

/** (x − mean) / sqrt(var + eps) per row of `cols`, in float64 (no affine). */
export function layerNormRowsRef(x: Float32Array, rows: number, cols: number, eps: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[r * cols + c] as number;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += ((x[r * cols + c] as number) - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = ((x[r * cols + c] as number) - mean) * inv;
  }
  return out;
}

/**
 * RMS norm (eps 1e-6) of each `group`-wide run of the first `cols` of rows `width` wide, weight row
 * `floor(c / segment)` (QK-norm: one weight per head, q and k segments), in float64.
 */
export function rmsNormGroupsRef(x: Float32Array, rows: number, width: number, cols: number, group: number, segment: number, w?: Float32Array): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < cols; g += group) {
      let sq = 0;
      for (let c = g; c < g + group; c++) sq += (x[r * width + c] as number) ** 2;
      const inv = 1 / Math.sqrt(sq / group + 1e-6);
      for (let c = g; c < g + group; c++) {
        const weight = w ? (w[Math.floor(c / segment) * group + (c % group)] as number) : 1;
        out[r * cols + c] = (x[r * width + c] as number) * inv * weight;
      }
    }
  }
  return out;
}

/** f32 → f16 bits, round to nearest even; the normal range only (test values are chosen in it). */
export function halfBitsOfNormal(v: number): number {
  // Round-to-nearest-even f32 → f16 bits (normal range only, as the test values are).
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer)[0] as number;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp <= 0) return sign;
  let h = sign | (exp << 10) | (mant >>> 13);
  mant &= 0x1fff;
  if (mant > 0x1000 || (mant === 0x1000 && (h & 1))) h += 1;
  return h;
}

/** The value of f16 bits `h` by the definition (subnormals m·2⁻²⁴), independent of the engine's decoders. */
export function halfValue(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
