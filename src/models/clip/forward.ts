import { CheckpointError } from '../../errors.js';
import type { GraphBuilder, Value } from '../../graph/builder.js';
import { attention, type SeqOperand } from '../../kernels/attention.js';
import { copyRows } from '../../kernels/copy-rows.js';
import { binary, unary } from '../../kernels/elementwise.js';
import { embed, type EmbeddingTable } from '../../kernels/embed.js';
import { layerNorm } from '../../kernels/layer-norm.js';
import { linear } from '../../kernels/matmul.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { WeightMap } from '../upload.js';
import type { ClipConfig } from './config.js';

export interface ClipInputs {
  readonly batch: number;
  /** Tokens per sequence (77 in SD3), at most the position table's rows. */
  readonly tokens: number;
  /** u32 `[batch·tokens]` token ids. */
  readonly ids: Value;
  /** u32 `[batch]`: the first end token of each sequence (argmax of its ids, found on the CPU). */
  readonly eot: Value;
  /** The token table when held outside the weight map (row parts over the buffer limit). */
  readonly table?: EmbeddingTable;
}

export interface ClipOutputs {
  /** SD3's sequence: the penultimate layer's output `[batch, tokens, D]`, without the final LayerNorm. */
  readonly seq: Value;
  /** SD3's pooled vector `[batch, D or P]`: projected for CLIP-G, not for CLIP-L (config.projectPooled). */
  readonly pooled: Value;
  /** With `extras`: the final LayerNorm of the last layer `[batch, tokens, D]`. */
  readonly lastHidden?: Value;
  /** With `extras`: the pooled vector under the other rule (unprojected for G, projected for L if it has a projection). */
  readonly pooledAlternative?: Value;
}

export function weight(w: WeightMap, name: string): GpuTensor {
  const t = w.get(name);
  if (!t) throw new CheckpointError(name, 'was not uploaded');
  return t;
}

/**
 * CLIP text transformer (TEXT_VAE_SPEC.md §3): token + position embeddings, pre-LN layers with
 * causal attention, SD3's penultimate-layer sequence and end-token pooling. Taps: `embeddings`,
 * `layer_{i}` (each layer's output).
 */
export function clipForward(b: GraphBuilder, w: WeightMap, c: ClipConfig, inputs: ClipInputs, o: { extras?: boolean } = {}): ClipOutputs {
  const { batch, tokens } = inputs;
  const D = c.hidden;
  let x = embed(b, inputs.ids, inputs.table ?? weight(w, 'token_embedding.weight'), { pos: weight(w, 'position_embedding.weight'), tokens, label: 'embeddings' });
  b.tap('embeddings', x);
  // hidden_states[-2]: the output of layer N−2, or the embeddings for a one-layer model.
  let seq = x;
  for (let i = 0; i < c.layers; i++) {
    x = clipLayer(b, w, c, i, x, batch, tokens);
    b.tap(`layer_${i}`, x);
    if (i === c.layers - 2) seq = x;
  }
  const finalNorm = { weight: weight(w, 'final_layer_norm.weight'), bias: weight(w, 'final_layer_norm.bias'), eps: c.eps };
  // LayerNorm is per row, so normalising only the gathered end-token rows equals gathering from
  // the normalised sequence.
  const endRows = copyRows(b, {
    rows: batch,
    cols: D,
    src: { value: x, layout: { seg: 1, segRows: tokens, offset: 0, col: 0, stride: D } },
    offsets: { mode: 'per-row', value: inputs.eot },
    label: 'end tokens',
  });
  const unprojected = layerNorm(b, endRows, { ...finalNorm, label: 'pooled (unprojected)' });
  const projection = w.get('text_projection.weight');
  const projected = projection && (c.projectPooled || o.extras) ? linear(b, unprojected, projection, { label: 'pooled (projected)' }) : null;
  const pooled = c.projectPooled ? (projected as Value) : unprojected;
  if (!o.extras) return { seq, pooled };
  const lastHidden = layerNorm(b, x, { ...finalNorm, label: 'last_hidden' });
  const alternative = c.projectPooled ? unprojected : projected;
  return alternative ? { seq, pooled, lastHidden, pooledAlternative: alternative } : { seq, pooled, lastHidden };
}

/** One pre-LN layer: x + attn(LN1(x)), then + MLP(LN2(·)). */
export function clipLayer(b: GraphBuilder, w: WeightMap, c: ClipConfig, i: number, x: Value, batch: number, tokens: number): Value {
  const p = `layers.${i}.`;
  const D = c.hidden;
  const t = (name: string) => weight(w, p + name);
  const h = layerNorm(b, x, { weight: t('layer_norm1.weight'), bias: t('layer_norm1.bias'), eps: c.eps, label: `${p}layer_norm1` });
  const qkv = linear(b, h, t('attn.qkv.weight'), { bias: t('attn.qkv.bias'), label: `${p}attn.qkv` });
  const part = (col: number): SeqOperand => ({ value: qkv, rowsPerBatch: tokens, rowOffset: 0, rowStride: 3 * D, col });
  const a = attention(b, {
    q: part(0),
    k: part(D),
    v: part(2 * D),
    batch,
    heads: c.heads,
    headDim: c.headDim,
    qLen: tokens,
    kvLen: tokens,
    scale: 1 / Math.sqrt(c.headDim),
    causal: true,
    label: `${p}attn`,
  });
  x = binary(b, 'add', x, linear(b, a, t('attn.out.weight'), { bias: t('attn.out.bias'), label: `${p}attn.out` }), `${p}attn residual`);
  const h2 = layerNorm(b, x, { weight: t('layer_norm2.weight'), bias: t('layer_norm2.bias'), eps: c.eps, label: `${p}layer_norm2` });
  const f = unary(b, c.activation, linear(b, h2, t('mlp.fc1.weight'), { bias: t('mlp.fc1.bias'), label: `${p}mlp.fc1` }), { label: `${p}mlp.act` });
  return binary(b, 'add', x, linear(b, f, t('mlp.fc2.weight'), { bias: t('mlp.fc2.bias'), label: `${p}mlp.fc2` }), `${p}mlp residual`);
}
