/**
 * MM-DiT forward (MODEL_SPEC §3) on the CPU in float64, written from the spec independently of the
 * engine: the truth for tiny random configurations (depth 1, patch 1 or 3, dual attention without
 * QK-norm, non-square latents…) that the public vectors do not cover. Weights use the original
 * names without prefix (ln_q and ln_k separate).
 */

export interface RefConfig {
  readonly depth: number;
  readonly hidden: number;
  readonly patch: number;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly posEmbedMaxSize: number;
  readonly contextDim: number;
  readonly pooledDim: number;
  readonly mlpHidden: number;
  readonly qkNorm: boolean;
  readonly dual: readonly number[];
  /** Head width; 64 (every release) unless given. */
  readonly headDim?: number;
}

/** Head width of a configuration (64, every release's, unless given). */
const headDimOf = (c: RefConfig): number => c.headDim ?? 64;

export type RefWeights = ReadonlyMap<string, Float64Array | Float32Array>;
type Vec = Float64Array;
const EPS = 1e-6;

function w(ws: RefWeights, name: string): Float64Array | Float32Array {
  const t = ws.get(name);
  if (!t) throw new Error(`reference: no weight ${name}`);
  return t;
}

/** y[r, o] = Σ_k x[r, k]·W[o, k] + b[o]. */
function lin(ws: RefWeights, name: string, x: Vec, rows: number, k: number): Vec {
  const W = w(ws, `${name}.weight`);
  const b = w(ws, `${name}.bias`);
  const n = b.length;
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < n; o++) {
      let acc = b[o] as number;
      for (let i = 0; i < k; i++) acc += (x[r * k + i] as number) * (W[o * k + i] as number);
      y[r * n + o] = acc;
    }
  }
  return y;
}

const silu = (v: number) => v / (1 + Math.exp(-v));
const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const map = (x: Vec, f: (v: number) => number) => x.map(f);

/** mod(LN(s), shift, scale) with shift/scale chunks of `m` [B, n·H] for rows of each batch item. */
function lnMod(s: Vec, B: number, T: number, H: number, m: Vec, mw: number, shiftChunk: number, scaleChunk: number): Vec {
  const out = new Float64Array(s.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * H;
      let mean = 0;
      for (let i = 0; i < H; i++) mean += s[row + i] as number;
      mean /= H;
      let v = 0;
      for (let i = 0; i < H; i++) v += ((s[row + i] as number) - mean) ** 2;
      const inv = 1 / Math.sqrt(v / H + EPS);
      for (let i = 0; i < H; i++) {
        const shift = m[b * mw + shiftChunk * H + i] as number;
        const scale = m[b * mw + scaleChunk * H + i] as number;
        out[row + i] = ((s[row + i] as number) - mean) * inv * (1 + scale) + shift;
      }
    }
  }
  return out;
}

function rmsHeads(x: Vec, rows: number, H: number, g: Float64Array | Float32Array, dh: number): Vec {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let h0 = 0; h0 < H; h0 += dh) {
      let ms = 0;
      for (let d = 0; d < dh; d++) ms += (x[r * H + h0 + d] as number) ** 2;
      const inv = 1 / Math.sqrt(ms / dh + EPS);
      for (let d = 0; d < dh; d++) out[r * H + h0 + d] = (x[r * H + h0 + d] as number) * inv * (g[d] as number);
    }
  }
  return out;
}

/** Softmax attention per head over [B, S, H] q, k, v. */
function attend(q: Vec, k: Vec, v: Vec, B: number, S: number, H: number, dh: number): Vec {
  const out = new Float64Array(B * S * H);
  const scores = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h0 = 0; h0 < H; h0 += dh) {
      for (let i = 0; i < S; i++) {
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += (q[(b * S + i) * H + h0 + d] as number) * (k[(b * S + j) * H + h0 + d] as number);
          scores[j] = dot / Math.sqrt(dh);
          max = Math.max(max, scores[j] as number);
        }
        let sum = 0;
        for (let j = 0; j < S; j++) {
          scores[j] = Math.exp((scores[j] as number) - max);
          sum += scores[j] as number;
        }
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j < S; j++) acc += (scores[j] as number) * (v[(b * S + j) * H + h0 + d] as number);
          out[(b * S + i) * H + h0 + d] = acc / sum;
        }
      }
    }
  }
  return out;
}

/** q, k, v [B, T, H] of a stream (QK-norm applied when configured). */
function qkvOf(ws: RefWeights, c: RefConfig, name: string, a: Vec, B: number, T: number): [Vec, Vec, Vec] {
  const H = c.hidden;
  const qkv = lin(ws, `${name}.qkv`, a, B * T, H);
  const split = (j: number) => {
    const out = new Float64Array(B * T * H);
    for (let r = 0; r < B * T; r++) for (let i = 0; i < H; i++) out[r * H + i] = qkv[r * 3 * H + j * H + i] as number;
    return out;
  };
  let q: Vec = split(0);
  let k: Vec = split(1);
  if (c.qkNorm) {
    q = rmsHeads(q, B * T, H, w(ws, `${name}.ln_q.weight`), headDimOf(c));
    k = rmsHeads(k, B * T, H, w(ws, `${name}.ln_k.weight`), headDimOf(c));
  }
  return [q, k, split(2)];
}

/** [B, Tc, H] ‖ [B, Tx, H] along tokens. */
function join(a: Vec, b: Vec, B: number, Ta: number, Tb: number, H: number): Vec {
  const out = new Float64Array(B * (Ta + Tb) * H);
  for (let i = 0; i < B; i++) {
    out.set(a.subarray(i * Ta * H, (i + 1) * Ta * H), i * (Ta + Tb) * H);
    out.set(b.subarray(i * Tb * H, (i + 1) * Tb * H), (i * (Ta + Tb) + Ta) * H);
  }
  return out;
}

function rowsOf(x: Vec, B: number, S: number, from: number, count: number, H: number): Vec {
  const out = new Float64Array(B * count * H);
  for (let i = 0; i < B; i++) out.set(x.subarray((i * S + from) * H, (i * S + from + count) * H), i * count * H);
  return out;
}

/** s + gate[b]·y, gate = chunk `chunk` of m. */
function gated(s: Vec, y: Vec, B: number, T: number, H: number, m: Vec, mw: number, chunk: number): Vec {
  const out = new Float64Array(s.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let i = 0; i < H; i++) {
    const r = (b * T + t) * H + i;
    out[r] = (s[r] as number) + (m[b * mw + chunk * H + i] as number) * (y[r] as number);
  }
  return out;
}

export interface RefInputs {
  readonly x: ArrayLike<number>;
  readonly t: ArrayLike<number>;
  readonly context: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly contextLength: number;
}

/** The velocity `[B, C_out, Hl, Wl]` in float64, plus named intermediates (MODEL_SPEC §7). */
export function mmditReference(ws: RefWeights, c: RefConfig, inp: RefInputs): { out: Float64Array; int: Map<string, Float64Array> } {
  const int = new Map<string, Float64Array>();
  const { batch: B, contextLength: L } = inp;
  const H = c.hidden;
  const p = c.patch;
  const [th, tw] = [inp.height / p, inp.width / p];
  const N = th * tw;
  const tFreq = new Float64Array(B * 256);
  for (let b = 0; b < B; b++) for (let j = 0; j < 128; j++) {
    const arg = (inp.t[b] as number) * Math.exp((-Math.log(10000) * j) / 128);
    tFreq[b * 256 + j] = Math.cos(arg);
    tFreq[b * 256 + 128 + j] = Math.sin(arg);
  }
  const tEmb = lin(ws, 't_embedder.mlp.2', map(lin(ws, 't_embedder.mlp.0', tFreq, B, 256), silu), B, H);
  const yEmb = lin(ws, 'y_embedder.mlp.2', map(lin(ws, 'y_embedder.mlp.0', Float64Array.from(inp.y), B, c.pooledDim), silu), B, H);
  const cv = tEmb.map((v, i) => v + (yEmb[i] as number));
  int.set('c', cv);
  const sc = map(cv, silu);
  // Patch embedding + centre crop of the position table.
  const pe = w(ws, 'x_embedder.proj.weight');
  const peb = w(ws, 'x_embedder.proj.bias');
  const pos = w(ws, 'pos_embed');
  const M = c.posEmbedMaxSize;
  const [top, left] = [Math.floor((M - th) / 2), Math.floor((M - tw) / 2)];
  let x: Vec = new Float64Array(B * N * H);
  for (let b = 0; b < B; b++) for (let r = 0; r < th; r++) for (let col = 0; col < tw; col++) for (let o = 0; o < H; o++) {
    let acc = (peb[o] as number) + (pos[((top + r) * M + left + col) * H + o] as number);
    for (let ch = 0; ch < c.inChannels; ch++) for (let ky = 0; ky < p; ky++) for (let kx = 0; kx < p; kx++) {
      acc += (inp.x[((b * c.inChannels + ch) * inp.height + r * p + ky) * inp.width + col * p + kx] as number) * (pe[((o * c.inChannels + ch) * p + ky) * p + kx] as number);
    }
    x[(b * N + r * tw + col) * H + o] = acc;
  }
  int.set('x_embed', x);
  let ctx = lin(ws, 'context_embedder', Float64Array.from(inp.context), B * L, c.contextDim);
  int.set('context_embed', ctx);
  for (let i = 0; i < c.depth; i++) {
    const last = i === c.depth - 1;
    const dual = c.dual.includes(i);
    const pre = `joint_blocks.${i}`;
    const cm = lin(ws, `${pre}.context_block.adaLN_modulation.1`, sc, B, H);
    const xm = lin(ws, `${pre}.x_block.adaLN_modulation.1`, sc, B, H);
    const [cmw, xmw] = [cm.length / B, xm.length / B];
    const [qc, kc, vc] = qkvOf(ws, c, `${pre}.context_block.attn`, lnMod(ctx, B, L, H, cm, cmw, 0, 1), B, L);
    const [qx, kx, vx] = qkvOf(ws, c, `${pre}.x_block.attn`, lnMod(x, B, N, H, xm, xmw, 0, 1), B, N);
    const o = attend(join(qc, qx, B, L, N, H), join(kc, kx, B, L, N, H), join(vc, vx, B, L, N, H), B, L + N, H, headDimOf(c));
    int.set(`block${i}.attn`, o);
    if (!last) {
      const c1 = gated(ctx, lin(ws, `${pre}.context_block.attn.proj`, rowsOf(o, B, L + N, 0, L, H), B * L, H), B, L, H, cm, cmw, 2);
      const h = map(lin(ws, `${pre}.context_block.mlp.fc1`, lnMod(c1, B, L, H, cm, cmw, 3, 4), B * L, H), gelu);
      ctx = gated(c1, lin(ws, `${pre}.context_block.mlp.fc2`, h, B * L, c.mlpHidden), B, L, H, cm, cmw, 5);
      int.set(`block${i}.context_out`, ctx);
    }
    let x1 = gated(x, lin(ws, `${pre}.x_block.attn.proj`, rowsOf(o, B, L + N, L, N, H), B * N, H), B, N, H, xm, xmw, 2);
    if (dual) {
      const [q2, k2, v2] = qkvOf(ws, c, `${pre}.x_block.attn2`, lnMod(x, B, N, H, xm, xmw, 6, 7), B, N);
      const o2 = attend(q2, k2, v2, B, N, H, headDimOf(c));
      int.set(`block${i}.attn2`, o2);
      x1 = gated(x1, lin(ws, `${pre}.x_block.attn2.proj`, o2, B * N, H), B, N, H, xm, xmw, 8);
    }
    const h = map(lin(ws, `${pre}.x_block.mlp.fc1`, lnMod(x1, B, N, H, xm, xmw, 3, 4), B * N, H), gelu);
    x = gated(x1, lin(ws, `${pre}.x_block.mlp.fc2`, h, B * N, c.mlpHidden), B, N, H, xm, xmw, 5);
    int.set(`block${i}.x_out`, x);
  }
  const fm = lin(ws, 'final_layer.adaLN_modulation.1', sc, B, H);
  const z = lin(ws, 'final_layer.linear', lnMod(x, B, N, H, fm, 2 * H, 0, 1), B * N, H);
  int.set('final_out', z);
  const C = c.outChannels;
  const out = new Float64Array(B * C * inp.height * inp.width);
  for (let b = 0; b < B; b++) for (let r = 0; r < th; r++) for (let col = 0; col < tw; col++) for (let ky = 0; ky < p; ky++) for (let kx = 0; kx < p; kx++) for (let ch = 0; ch < C; ch++) {
    out[((b * C + ch) * inp.height + r * p + ky) * inp.width + col * p + kx] = z[(b * N + r * tw + col) * p * p * C + (ky * p + kx) * C + ch] as number;
  }
  return { out, int };
}
