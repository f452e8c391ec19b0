/**
 * CPU references for the image kernels (NHWC), in the style of ops.ts: Float64Array gives the
 * truth, Float32Array rounds every stored result and accumulation to f32 to size tolerances.
 */
import type { Real, RealCtor } from './ops.js';

const round = (ctor: RealCtor) => (ctor === Float32Array ? Math.fround : (x: number) => x);

export type RefConvMode = 'same' | 'upsample' | 'downsample';

/**
 * Convolution of x `[B, H, W, Cin]` with w `[Cout, k, k, Cin]` (canonical layout), plus bias and
 * residual `[B, Ho, Wo, Cout]`. Modes as in src/kernels/conv2d.ts.
 */
export function convRef(
  ctor: RealCtor,
  x: ArrayLike<number>,
  dims: { batch: number; h: number; w: number; cin: number; cout: number; k: number; mode: RefConvMode },
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
  residual?: ArrayLike<number>,
): { out: Real; height: number; width: number } {
  const r = round(ctor);
  const { batch, h, w: wd, cin, cout, k, mode } = dims;
  const up = mode === 'upsample' ? 2 : 1;
  const stride = mode === 'downsample' ? 2 : 1;
  const pad = mode === 'downsample' ? 0 : (k - 1) / 2;
  const lh = h * up;
  const lw = wd * up;
  const ho = mode === 'downsample' ? Math.floor(h / 2) : lh;
  const wo = mode === 'downsample' ? Math.floor(wd / 2) : lw;
  const out = new ctor(batch * ho * wo * cout);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let n = 0; n < cout; n++) {
          let acc = 0;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride + ky - pad;
            if (iy < 0 || iy >= lh) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride + kx - pad;
              if (ix < 0 || ix >= lw) continue;
              const xb = ((b * h + Math.floor(iy / up)) * wd + Math.floor(ix / up)) * cin;
              const wb = ((n * k + ky) * k + kx) * cin;
              for (let c = 0; c < cin; c++) acc = r(acc + r((x[xb + c] as number) * (w[wb + c] as number)));
            }
          }
          const at = ((b * ho + oy) * wo + ox) * cout + n;
          let v = r(acc + (bias ? (bias[n] as number) : 0));
          if (residual) v = r(v + (residual[at] as number));
          out[at] = v;
        }
      }
    }
  }
  return { out, height: ho, width: wo };
}

/**
 * GroupNorm over x `[B, P, C]` (P pixels): per sample and group of C/G channels, mean and biased
 * variance over P·C/G values, `(x − mean)/√(var + eps)·γ_c + β_c`, then SiLU when asked.
 */
export function groupNormRef(
  ctor: RealCtor,
  x: ArrayLike<number>,
  dims: { batch: number; pixels: number; channels: number; groups: number; eps: number; silu: boolean },
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
): Real {
  const r = round(ctor);
  const { batch, pixels, channels, groups, eps, silu } = dims;
  const cpg = channels / groups;
  const out = new ctor(x.length);
  for (let b = 0; b < batch; b++) {
    for (let g = 0; g < groups; g++) {
      let sum = 0;
      for (let p = 0; p < pixels; p++) for (let c = 0; c < cpg; c++) sum = r(sum + (x[(b * pixels + p) * channels + g * cpg + c] as number));
      const n = pixels * cpg;
      const mean = r(sum / n);
      let m2 = 0;
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < cpg; c++) {
          const d = r((x[(b * pixels + p) * channels + g * cpg + c] as number) - mean);
          m2 = r(m2 + r(d * d));
        }
      }
      const rstd = r(1 / Math.sqrt(r(r(m2 / n) + eps)));
      for (let p = 0; p < pixels; p++) {
        for (let c = 0; c < cpg; c++) {
          const ch = g * cpg + c;
          const at = (b * pixels + p) * channels + ch;
          let v = r(r(r((x[at] as number) - mean) * rstd) * (gamma[ch] as number) + (beta[ch] as number));
          if (silu) v = r(v / (1 + Math.exp(-v)));
          out[at] = v;
        }
      }
    }
  }
  return out;
}

/** f64 reference of MODEL_SPEC §3.1 plus bias and position rows. */
export function patchEmbedRef(x: Float32Array, w: ArrayLike<number>, bias: Float32Array, pos: ArrayLike<number>, batch: number, batchIn: number, c: number, h: number, wd: number, p: number, hidden: number, ctor: Float64ArrayConstructor | Float32ArrayConstructor = Float64Array): Float64Array | Float32Array {
  const tw = wd / p;
  const tokens = (h / p) * tw;
  const out = new ctor(batch * tokens * hidden);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < tokens; t++) {
      const r = Math.floor(t / tw);
      const col = t % tw;
      for (let o = 0; o < hidden; o++) {
        let acc = (bias[o] as number) + (pos[t * hidden + o] as number);
        for (let ch = 0; ch < c; ch++) {
          for (let ky = 0; ky < p; ky++) {
            for (let kx = 0; kx < p; kx++) {
              const xv = x[(((b % batchIn) * c + ch) * h + r * p + ky) * wd + col * p + kx] as number;
              acc += xv * (w[o * c * p * p + (ch * p + ky) * p + kx] as number);
            }
          }
        }
        out[(b * tokens + t) * hidden + o] = acc;
      }
    }
  }
  return out;
}

/** The reference's float32 conversion: trunc(255·clamp((x+1)/2, 0, 1)). */
export function toByteRef(x: number): number {
  const y = Math.min(1, Math.max(0, Math.fround(Math.fround(x + 1) / 2)));
  return Math.trunc(Math.fround(255 * y));
}
