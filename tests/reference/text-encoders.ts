/**
 * CPU references of the text encoders (TEXT_VAE_SPEC.md §3–§4) over canonical weight names, in
 * f64 (truth) or f32 (every stored result rounded, to size tolerances). Written from the spec, not
 * from the engine's graph: no fused kernels, plain loops.
 */
import type { ClipConfig } from '../../src/models/clip/config.js';
import type { T5Config } from '../../src/models/t5/config.js';
import { relativePositionBucket } from '../../src/models/t5/relative-position.js';
import { geluErf, geluTanh, matmulRef, quickGelu, type RealCtor } from './ops.js';

export type Weights = ReadonlyMap<string, Float32Array>;

function get(w: Weights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`reference weight ${name} missing`);
  return t;
}

const rounder = (ctor: RealCtor) => (ctor === Float32Array ? Math.fround : (x: number) => x);

function layerNormRef(ctor: RealCtor, x: ArrayLike<number>, rows: number, cols: number, g: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array | Float32Array {
  const r = rounder(ctor);
  const out = new ctor(rows * cols);
  for (let i = 0; i < rows; i++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += x[i * cols + c] as number;
    mean /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += ((x[i * cols + c] as number) - mean) ** 2;
    const inv = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) out[i * cols + c] = r((((x[i * cols + c] as number) - mean) * inv) * (g[c] as number) + (b[c] as number));
  }
  return out;
}

function rmsNormRef(ctor: RealCtor, x: ArrayLike<number>, rows: number, cols: number, g: ArrayLike<number>, eps: number): Float64Array | Float32Array {
  const r = rounder(ctor);
  const out = new ctor(rows * cols);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (x[i * cols + c] as number) ** 2;
    const inv = 1 / Math.sqrt(s / cols + eps);
    for (let c = 0; c < cols; c++) out[i * cols + c] = r((x[i * cols + c] as number) * inv * (g[c] as number));
  }
  return out;
}

/** Softmax attention per batch item and head over a fused qkv `[B·T, 3·heads·dh]`. */
function attentionRef(ctor: RealCtor, qkv: ArrayLike<number>, batch: number, tokens: number, heads: number, dh: number, scale: number, causal: boolean, bias: ((h: number, i: number, j: number) => number) | null): Float64Array | Float32Array {
  const r = rounder(ctor);
  const inner = heads * dh;
  const out = new ctor(batch * tokens * inner);
  const scores = new Float64Array(tokens);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < tokens; i++) {
        const qRow = (b * tokens + i) * 3 * inner + h * dh;
        let max = -Infinity;
        const last = causal ? i : tokens - 1;
        for (let j = 0; j <= last; j++) {
          const kRow = (b * tokens + j) * 3 * inner + inner + h * dh;
          let s = 0;
          for (let d = 0; d < dh; d++) s += (qkv[qRow + d] as number) * (qkv[kRow + d] as number);
          scores[j] = s * scale + (bias ? bias(h, i, j) : 0);
          max = Math.max(max, scores[j] as number);
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          scores[j] = Math.exp((scores[j] as number) - max);
          sum += scores[j] as number;
        }
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j <= last; j++) acc += (scores[j] as number) * (qkv[(b * tokens + j) * 3 * inner + 2 * inner + h * dh + d] as number);
          out[(b * tokens + i) * inner + h * dh + d] = r(acc / sum);
        }
      }
    }
  }
  return out;
}

function add(ctor: RealCtor, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array | Float32Array {
  const r = rounder(ctor);
  const out = new ctor(a.length);
  for (let i = 0; i < a.length; i++) out[i] = r((a[i] as number) + (b[i] as number));
  return out;
}

export interface ClipReference {
  readonly embeddings: Float64Array | Float32Array;
  readonly layers: (Float64Array | Float32Array)[];
  readonly seq: Float64Array | Float32Array;
  readonly lastHidden: Float64Array | Float32Array;
  readonly pooledUnprojected: Float64Array | Float32Array;
  readonly pooledProjected: Float64Array | Float32Array | null;
  readonly eot: number[];
}

export function clipReference(ctor: RealCtor, w: Weights, c: ClipConfig, ids: ArrayLike<number>, batch: number): ClipReference {
  const tokens = ids.length / batch;
  const D = c.hidden;
  const rows = batch * tokens;
  const r = rounder(ctor);
  const tok = get(w, 'token_embedding.weight');
  const pos = get(w, 'position_embedding.weight');
  let x: Float64Array | Float32Array = new ctor(rows * D);
  for (let i = 0; i < rows; i++) {
    for (let d = 0; d < D; d++) x[i * D + d] = r((tok[(ids[i] as number) * D + d] as number) + (pos[(i % tokens) * D + d] as number));
  }
  const embeddings = x;
  const act = { quick_gelu: quickGelu, gelu_erf: geluErf, gelu_tanh: geluTanh }[c.activation];
  const layers: (Float64Array | Float32Array)[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `layers.${l}.`;
    const h = layerNormRef(ctor, x, rows, D, get(w, `${p}layer_norm1.weight`), get(w, `${p}layer_norm1.bias`), c.eps);
    const qkv = matmulRef(ctor, h, get(w, `${p}attn.qkv.weight`), rows, 3 * D, D, get(w, `${p}attn.qkv.bias`));
    const a = attentionRef(ctor, qkv, batch, tokens, c.heads, c.headDim, 1 / Math.sqrt(c.headDim), true, null);
    x = add(ctor, x, matmulRef(ctor, a, get(w, `${p}attn.out.weight`), rows, D, D, get(w, `${p}attn.out.bias`)));
    const h2 = layerNormRef(ctor, x, rows, D, get(w, `${p}layer_norm2.weight`), get(w, `${p}layer_norm2.bias`), c.eps);
    const f = matmulRef(ctor, h2, get(w, `${p}mlp.fc1.weight`), rows, c.mlpHidden, D, get(w, `${p}mlp.fc1.bias`)).map((v) => r(act(v)));
    x = add(ctor, x, matmulRef(ctor, f, get(w, `${p}mlp.fc2.weight`), rows, D, c.mlpHidden, get(w, `${p}mlp.fc2.bias`)));
    layers.push(x);
  }
  const lastHidden = layerNormRef(ctor, x, rows, D, get(w, 'final_layer_norm.weight'), get(w, 'final_layer_norm.bias'), c.eps);
  const eot: number[] = [];
  const pooledUnprojected = new ctor(batch * D);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let t = 1; t < tokens; t++) if ((ids[b * tokens + t] as number) > (ids[b * tokens + best] as number)) best = t;
    eot.push(best);
    pooledUnprojected.set(lastHidden.subarray((b * tokens + best) * D, (b * tokens + best + 1) * D), b * D);
  }
  const proj = w.get('text_projection.weight');
  const pooledProjected = proj ? matmulRef(ctor, pooledUnprojected, proj, batch, proj.length / D, D) : null;
  const seq = c.layers >= 2 ? (layers[c.layers - 2] as Float64Array) : embeddings;
  return { embeddings, layers, seq, lastHidden, pooledUnprojected, pooledProjected, eot };
}

export interface T5Reference {
  readonly embeddings: Float64Array | Float32Array;
  readonly positionBias: Float64Array;
  readonly layers: (Float64Array | Float32Array)[];
  readonly seq: Float64Array | Float32Array;
}

export function t5Reference(ctor: RealCtor, w: Weights, c: T5Config, ids: ArrayLike<number>, batch: number): T5Reference {
  const tokens = ids.length / batch;
  const D = c.dModel;
  const inner = c.heads * c.dKv;
  const rows = batch * tokens;
  const table = get(w, 'embed_tokens.weight');
  let x: Float64Array | Float32Array = new ctor(rows * D);
  for (let i = 0; i < rows; i++) for (let d = 0; d < D; d++) x[i * D + d] = table[(ids[i] as number) * D + d] as number;
  const embeddings = x;
  const rel = get(w, 'relative_attention_bias.weight');
  const positionBias = new Float64Array(c.heads * tokens * tokens);
  for (let h = 0; h < c.heads; h++) {
    for (let i = 0; i < tokens; i++) {
      for (let j = 0; j < tokens; j++) {
        positionBias[(h * tokens + i) * tokens + j] = rel[relativePositionBucket(j - i, c.numBuckets, c.maxDistance) * c.heads + h] as number;
      }
    }
  }
  const bias = (h: number, i: number, j: number) => positionBias[(h * tokens + i) * tokens + j] as number;
  const r = rounder(ctor);
  const layers: (Float64Array | Float32Array)[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}.`;
    const h = rmsNormRef(ctor, x, rows, D, get(w, `${p}attn_norm.weight`), c.eps);
    const qkv = matmulRef(ctor, h, get(w, `${p}attn.qkv.weight`), rows, 3 * inner, D);
    const a = attentionRef(ctor, qkv, batch, tokens, c.heads, c.dKv, 1, false, bias);
    x = add(ctor, x, matmulRef(ctor, a, get(w, `${p}attn.o.weight`), rows, D, inner));
    const h2 = rmsNormRef(ctor, x, rows, D, get(w, `${p}ffn_norm.weight`), c.eps);
    const g = matmulRef(ctor, h2, get(w, `${p}ffn.wi_0.weight`), rows, c.dFf, D);
    const u = matmulRef(ctor, h2, get(w, `${p}ffn.wi_1.weight`), rows, c.dFf, D);
    const hidden = g.map((v, i) => r(r(geluTanh(v)) * (u[i] as number)));
    x = add(ctor, x, matmulRef(ctor, hidden, get(w, `${p}ffn.wo.weight`), rows, D, c.dFf));
    layers.push(x);
  }
  const seq = rmsNormRef(ctor, x, rows, D, get(w, 'final_layer_norm.weight'), c.eps);
  return { embeddings, positionBias, layers, seq };
}

/** T5's relative-position bucket by the formula with float64 logarithms (equal to the exact result away from bucket edges). */
export function t5BucketFloat64(n: number, nb: number, md: number): number {
  const half = nb / 2;
  const exact = half / 2;
  const m = Math.abs(n);
  const f = m < exact ? m : Math.min(half - 1, exact + Math.trunc((Math.log(m / exact) / Math.log(md / exact)) * (half - exact)));
  return (n > 0 ? half : 0) + f;
}
