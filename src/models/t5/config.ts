import { CheckpointError, InvalidArgumentError } from '../../errors.js';
import type { TensorInfo } from '../../weights/tensor-source.js';
import { checkTensorSet } from '../canonical-view.js';
import { checkBucketConfig } from './relative-position.js';

/** A T5 v1.1 encoder (TEXT_VAE_SPEC.md §4), derived from canonical tensor names and shapes. */
export interface T5Config {
  readonly vocabSize: number;
  /** Model width D. */
  readonly dModel: number;
  /** Heads, from the relative-attention-bias table `[num_buckets, heads]`. */
  readonly heads: number;
  /** Per-head width d_kv (the q rows are heads·d_kv, which need not equal D). */
  readonly dKv: number;
  /** Gated-GELU feed-forward width. */
  readonly dFf: number;
  readonly layers: number;
  readonly numBuckets: number;
  /** Not visible in any tensor: 128 in every release. */
  readonly maxDistance: number;
  readonly eps: number;
}

export interface T5Overrides {
  readonly maxDistance?: number;
  readonly eps?: number;
}

export const T5_MAX_DISTANCE = 128;
export const T5_RMS_EPS = 1e-6;

type Infos = ReadonlyMap<string, TensorInfo>;

function need(tensors: Infos, key: string, rank: number): readonly number[] {
  const info = tensors.get(key);
  if (!info) throw new CheckpointError(key, 'is missing; it is needed to derive the T5 configuration');
  if (info.shape.length !== rank) throw new CheckpointError(key, `should have rank ${rank}`, `rank ${rank}`, JSON.stringify(info.shape));
  return info.shape;
}

export function deriveT5Config(tensors: Infos, overrides: T5Overrides = {}): T5Config {
  const [vocabSize, dModel] = need(tensors, 'embed_tokens.weight', 2) as [number, number];
  const [numBuckets, heads] = need(tensors, 'relative_attention_bias.weight', 2) as [number, number];
  const qkvRows = need(tensors, 'blocks.0.attn.qkv.weight', 2)[0] as number;
  if (qkvRows % (3 * heads) !== 0) {
    throw new CheckpointError('blocks.0.attn.qkv.weight', `rows must be 3·heads·d_kv with ${heads} heads (from relative_attention_bias)`, `[3·${heads}·d_kv, ${dModel}]`, String(qkvRows));
  }
  let layers = 0;
  for (const name of tensors.keys()) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  const maxDistance = overrides.maxDistance ?? T5_MAX_DISTANCE;
  try {
    checkBucketConfig(numBuckets, maxDistance);
  } catch (cause) {
    if (cause instanceof InvalidArgumentError && cause.parameter === 'T5 num_buckets') {
      throw new CheckpointError('relative_attention_bias.weight', 'too few buckets', '≥ 4 rows', String(numBuckets));
    }
    throw cause;
  }
  return {
    vocabSize,
    dModel,
    heads,
    dKv: qkvRows / 3 / heads,
    dFf: need(tensors, 'blocks.0.ffn.wi_0.weight', 2)[0] as number,
    layers,
    numBuckets,
    maxDistance,
    eps: overrides.eps ?? T5_RMS_EPS,
  };
}

/** Every canonical tensor of this configuration with its shape (no biases anywhere in T5). */
export function expectedT5Tensors(c: T5Config): Map<string, readonly number[]> {
  const D = c.dModel;
  const out = new Map<string, readonly number[]>();
  out.set('embed_tokens.weight', [c.vocabSize, D]);
  out.set('relative_attention_bias.weight', [c.numBuckets, c.heads]);
  for (let i = 0; i < c.layers; i++) {
    for (const [name, shape] of blockTensors(c, i)) out.set(name, shape);
  }
  out.set('final_layer_norm.weight', [D]);
  return out;
}

/** The canonical tensors of block i: what a sequential forward uploads for that block. */
export function blockTensors(c: T5Config, i: number): Map<string, readonly number[]> {
  const D = c.dModel;
  const inner = c.heads * c.dKv;
  return new Map<string, readonly number[]>([
    [`blocks.${i}.attn_norm.weight`, [D]],
    [`blocks.${i}.attn.qkv.weight`, [3 * inner, D]],
    [`blocks.${i}.attn.o.weight`, [D, inner]],
    [`blocks.${i}.ffn_norm.weight`, [D]],
    [`blocks.${i}.ffn.wi_0.weight`, [c.dFf, D]],
    [`blocks.${i}.ffn.wi_1.weight`, [c.dFf, D]],
    [`blocks.${i}.ffn.wo.weight`, [D, c.dFf]],
  ]);
}

export function checkT5Tensors(tensors: Infos, c: T5Config, describe: (name: string) => string = (n) => n): void {
  checkTensorSet(tensors, expectedT5Tensors(c), describe);
}
