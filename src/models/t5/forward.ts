import type { GraphBuilder, Value } from '../../graph/builder.js';
import { attention, type SeqOperand } from '../../kernels/attention.js';
import { binary } from '../../kernels/elementwise.js';
import { embed, type EmbeddingTable } from '../../kernels/embed.js';
import { linear } from '../../kernels/matmul.js';
import { rmsNorm } from '../../kernels/rms-norm.js';
import { t5PositionBias } from '../../kernels/t5-bias.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import { weight } from '../clip/forward.js';
import type { WeightMap } from '../upload.js';
import type { T5Config } from './config.js';
import { distanceBuckets } from './relative-position.js';

/**
 * T5 v1.1 encoder (TEXT_VAE_SPEC.md §4), split so a caller can run it whole (`t5Forward`) or block
 * by block with only one block's weights resident (`t5Embed` + `t5Bias`, then `t5Block` per block,
 * then `t5Final`). Activations stay f32: T5 v1.1's feed-forward overflows f16.
 */

/** Token embeddings `[batch, tokens, D]` (no positions, no scaling). */
export function t5Embed(b: GraphBuilder, table: EmbeddingTable, ids: Value, tokens: number): Value {
  return embed(b, ids, table, { tokens, label: 'embeddings' });
}

/**
 * The relative position bias f32 `[heads, tokens, tokens]` from block 0's table, computed once and
 * added in every block. The buckets are exact integers from the CPU, a constant of the graph.
 */
export function t5Bias(b: GraphBuilder, w: WeightMap, c: T5Config, tokens: number): Value {
  const buckets = b.constant('buckets', [2 * tokens - 1], 'u32', distanceBuckets(tokens, tokens, c.numBuckets, c.maxDistance));
  return t5PositionBias(b, buckets, weight(w, 'relative_attention_bias.weight'), { qLen: tokens, kvLen: tokens, label: 'position_bias' });
}

/** One block: x + SelfAttention(RMS(x)) (no 1/√d scaling, bias added), then + gated-GELU FFN. */
export function t5Block(b: GraphBuilder, w: WeightMap, c: T5Config, i: number, x: Value, bias: Value | GpuTensor, batch: number, tokens: number): Value {
  const p = `blocks.${i}.`;
  const t = (name: string) => weight(w, p + name);
  const D = c.dModel;
  const inner = c.heads * c.dKv;
  const h = rmsNorm(b, x, { weight: t('attn_norm.weight'), group: D, eps: c.eps, label: `${p}attn_norm` });
  const qkv = linear(b, h, t('attn.qkv.weight'), { label: `${p}attn.qkv` });
  const part = (col: number): SeqOperand => ({ value: qkv, rowsPerBatch: tokens, rowOffset: 0, rowStride: 3 * inner, col });
  const a = attention(b, {
    q: part(0),
    k: part(inner),
    v: part(2 * inner),
    batch,
    heads: c.heads,
    headDim: c.dKv,
    qLen: tokens,
    kvLen: tokens,
    scale: 1,
    bias,
    label: `${p}attn`,
  });
  x = binary(b, 'add', x, linear(b, a, t('attn.o.weight'), { label: `${p}attn.o` }), `${p}attn residual`);
  const h2 = rmsNorm(b, x, { weight: t('ffn_norm.weight'), group: D, eps: c.eps, label: `${p}ffn_norm` });
  const gate = linear(b, h2, t('ffn.wi_0.weight'), { epilogue: 'gelu_tanh', label: `${p}ffn.wi_0` });
  const up = linear(b, h2, t('ffn.wi_1.weight'), { label: `${p}ffn.wi_1` });
  const hidden = binary(b, 'mul', gate, up, `${p}ffn.gated`);
  return binary(b, 'add', x, linear(b, hidden, t('ffn.wo.weight'), { label: `${p}ffn.wo` }), `${p}ffn residual`);
}

/** The final RMS norm: SD3's T5 sequence. */
export function t5Final(b: GraphBuilder, w: WeightMap, c: T5Config, x: Value): Value {
  return rmsNorm(b, x, { weight: weight(w, 'final_layer_norm.weight'), group: c.dModel, eps: c.eps, label: 'final_layer_norm' });
}

/** The whole encoder in one graph. Taps: `embeddings`, `position_bias`, `layer_{i}` (block outputs). */
export function t5Forward(b: GraphBuilder, w: WeightMap, c: T5Config, inputs: { batch: number; tokens: number; ids: Value; table?: EmbeddingTable }): { seq: Value } {
  const { batch, tokens } = inputs;
  let x = b.tap('embeddings', t5Embed(b, inputs.table ?? weight(w, 'embed_tokens.weight'), inputs.ids, tokens));
  const bias = b.tap('position_bias', t5Bias(b, w, c, tokens));
  for (let i = 0; i < c.layers; i++) x = b.tap(`layer_${i}`, t5Block(b, w, c, i, x, bias, batch, tokens));
  return { seq: t5Final(b, w, c, x) };
}
