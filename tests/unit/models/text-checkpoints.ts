/**
 * Seeded random text-encoder checkpoints in the reference key layout (f16 in the file), with the
 * same values under canonical names for the CPU references.
 */
import { randomArray } from '../../reference/random.js';
import { encodeF16, toFloat32 } from '../../../src/weights/decode.js';
import { encodeSafetensors, type SafetensorsTensor } from '../../../src/weights/safetensors-write.js';

export interface RandomCheckpoint {
  readonly file: Uint8Array;
  /** Canonical name → values exactly as stored (f16-rounded). */
  readonly weights: Map<string, Float32Array>;
}

class Builder {
  readonly tensors: SafetensorsTensor[] = [];
  readonly stored = new Map<string, Float32Array>();
  private seed: number;

  constructor(seed: number) {
    this.seed = seed;
  }

  /** A tensor in the file; returns its f16-rounded values. */
  add(name: string, shape: number[], lo: number, hi: number): Float32Array {
    const values = randomArray(shape.reduce((p, d) => p * d, 1), this.seed++, lo, hi);
    const data = encodeF16(values);
    this.tensors.push({ name, dtype: 'F16', shape, data });
    const exact = toFloat32(data, 'F16', name);
    this.stored.set(name, exact);
    return exact;
  }

  /**
   * A large table of seeded f16 values in ±[1/32, 2) straight from bits (real vocabularies hold
   * 10⁸ values; drawing and rounding floats would take seconds). Values are not kept.
   */
  bits(name: string, shape: number[]): void {
    const n = shape.reduce((p, d) => p * d, 1);
    const out = new Uint16Array(n);
    let x = (this.seed++ * 2654435761) >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      // sign, exponent 10…15 (2^-5 … 2^0), 10 mantissa bits.
      out[i] = ((x >>> 31) << 15) | ((10 + ((x >>> 10) % 6)) << 10) | (x & 0x3ff);
    }
    this.tensors.push({ name, dtype: 'F16', shape, data: new Uint8Array(out.buffer) });
  }

  linear(name: string, rows: number, cols: number): Float32Array {
    const a = 1.5 / Math.sqrt(cols);
    return this.add(name, [rows, cols], -a, a);
  }

  file(): Uint8Array {
    return encodeSafetensors(this.tensors);
  }
}

function concatRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface ClipDims {
  readonly vocab: number;
  readonly positions: number;
  readonly hidden: number;
  readonly mlp: number;
  readonly layers: number;
  /** Rows of text_projection, or null for none. */
  readonly projection: number | null;
  readonly prefix?: string;
  readonly seed: number;
  /** Fill the token table from bits and leave it out of `weights` (real-vocabulary sizes). */
  readonly fastTable?: boolean;
}

export function randomClip(d: ClipDims): RandomCheckpoint {
  const b = new Builder(d.seed);
  const p = d.prefix ?? '';
  const t = `${p}text_model.`;
  const w = new Map<string, Float32Array>();
  if (d.fastTable) b.bits(`${t}embeddings.token_embedding.weight`, [d.vocab, d.hidden]);
  else w.set('token_embedding.weight', b.add(`${t}embeddings.token_embedding.weight`, [d.vocab, d.hidden], -1, 1));
  w.set('position_embedding.weight', b.add(`${t}embeddings.position_embedding.weight`, [d.positions, d.hidden], -0.5, 0.5));
  for (let i = 0; i < d.layers; i++) {
    const l = `${t}encoder.layers.${i}.`;
    const c = `layers.${i}.`;
    w.set(`${c}layer_norm1.weight`, b.add(`${l}layer_norm1.weight`, [d.hidden], 0.8, 1.2));
    w.set(`${c}layer_norm1.bias`, b.add(`${l}layer_norm1.bias`, [d.hidden], -0.1, 0.1));
    const qkv: Float32Array[] = [];
    const qkvBias: Float32Array[] = [];
    for (const x of ['q', 'k', 'v']) {
      qkv.push(b.linear(`${l}self_attn.${x}_proj.weight`, d.hidden, d.hidden));
      qkvBias.push(b.add(`${l}self_attn.${x}_proj.bias`, [d.hidden], -0.1, 0.1));
    }
    w.set(`${c}attn.qkv.weight`, concatRows(qkv));
    w.set(`${c}attn.qkv.bias`, concatRows(qkvBias));
    w.set(`${c}attn.out.weight`, b.linear(`${l}self_attn.out_proj.weight`, d.hidden, d.hidden));
    w.set(`${c}attn.out.bias`, b.add(`${l}self_attn.out_proj.bias`, [d.hidden], -0.1, 0.1));
    w.set(`${c}layer_norm2.weight`, b.add(`${l}layer_norm2.weight`, [d.hidden], 0.8, 1.2));
    w.set(`${c}layer_norm2.bias`, b.add(`${l}layer_norm2.bias`, [d.hidden], -0.1, 0.1));
    w.set(`${c}mlp.fc1.weight`, b.linear(`${l}mlp.fc1.weight`, d.mlp, d.hidden));
    w.set(`${c}mlp.fc1.bias`, b.add(`${l}mlp.fc1.bias`, [d.mlp], -0.1, 0.1));
    w.set(`${c}mlp.fc2.weight`, b.linear(`${l}mlp.fc2.weight`, d.hidden, d.mlp));
    w.set(`${c}mlp.fc2.bias`, b.add(`${l}mlp.fc2.bias`, [d.hidden], -0.1, 0.1));
  }
  w.set('final_layer_norm.weight', b.add(`${t}final_layer_norm.weight`, [d.hidden], 0.8, 1.2));
  w.set('final_layer_norm.bias', b.add(`${t}final_layer_norm.bias`, [d.hidden], -0.1, 0.1));
  if (d.projection !== null) w.set('text_projection.weight', b.linear(`${p}text_projection.weight`, d.projection, d.hidden));
  return { file: b.file(), weights: w };
}

export interface T5Dims {
  readonly vocab: number;
  readonly dModel: number;
  readonly heads: number;
  readonly dKv: number;
  readonly dFf: number;
  readonly layers: number;
  readonly buckets: number;
  /** Store the table only as the tied `shared.weight` (diffusers' text_encoder_3). */
  readonly tied?: boolean;
  readonly prefix?: string;
  readonly seed: number;
  readonly fastTable?: boolean;
}

export function randomT5(d: T5Dims): RandomCheckpoint {
  const b = new Builder(d.seed);
  const p = d.prefix ?? '';
  const e = `${p}encoder.`;
  const inner = d.heads * d.dKv;
  const w = new Map<string, Float32Array>();
  const tableName = d.tied ? `${p}shared.weight` : `${e}embed_tokens.weight`;
  if (d.fastTable) b.bits(tableName, [d.vocab, d.dModel]);
  else w.set('embed_tokens.weight', b.add(tableName, [d.vocab, d.dModel], -1, 1));
  w.set('relative_attention_bias.weight', b.add(`${e}block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [d.buckets, d.heads], -1, 1));
  for (let i = 0; i < d.layers; i++) {
    const l = `${e}block.${i}.layer.`;
    const c = `blocks.${i}.`;
    w.set(`${c}attn_norm.weight`, b.add(`${l}0.layer_norm.weight`, [d.dModel], 0.8, 1.2));
    w.set(`${c}attn.qkv.weight`, concatRows(['q', 'k', 'v'].map((x) => b.linear(`${l}0.SelfAttention.${x}.weight`, inner, d.dModel))));
    w.set(`${c}attn.o.weight`, b.linear(`${l}0.SelfAttention.o.weight`, d.dModel, inner));
    w.set(`${c}ffn_norm.weight`, b.add(`${l}1.layer_norm.weight`, [d.dModel], 0.8, 1.2));
    w.set(`${c}ffn.wi_0.weight`, b.linear(`${l}1.DenseReluDense.wi_0.weight`, d.dFf, d.dModel));
    w.set(`${c}ffn.wi_1.weight`, b.linear(`${l}1.DenseReluDense.wi_1.weight`, d.dFf, d.dModel));
    w.set(`${c}ffn.wo.weight`, b.linear(`${l}1.DenseReluDense.wo.weight`, d.dModel, d.dFf));
  }
  w.set('final_layer_norm.weight', b.add(`${e}final_layer_norm.weight`, [d.dModel], 0.8, 1.2));
  return { file: b.file(), weights: w };
}

/** Seeded ids in [lo, hi). */
export function randomIds(n: number, seed: number, lo: number, hi: number): Int32Array {
  return Int32Array.from(randomArray(n, seed, lo, hi), (v) => Math.min(hi - 1, Math.floor(v)));
}
