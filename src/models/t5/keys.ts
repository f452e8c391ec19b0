import { CheckpointError } from '../../errors.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { type CanonicalEntry, canonicalView, checkNoUnexpected, layerIndices } from '../canonical-view.js';

/**
 * T5 encoder checkpoints → canonical names. Layouts read:
 * - reference / transformers `T5EncoderModel` (`encoder.block.{i}.layer.{0,1}.…`,
 *   `encoder.final_layer_norm.weight`, the token table as `encoder.embed_tokens.weight` or only as
 *   the tied `shared.weight`, as diffusers' `text_encoder_3/` shards store it);
 * - the same under a prefix, as SD3 single files store it (`text_encoders.t5xxl.transformer.`);
 * - canonical names (converted manifests), optionally under a prefix.
 * Canonical names: `embed_tokens.weight`, `relative_attention_bias.weight` (block 0's, shared by
 * every block), `blocks.{i}.attn_norm.weight`, `blocks.{i}.attn.qkv.weight` (q, k, v fused along
 * rows), `blocks.{i}.attn.o.weight`, `blocks.{i}.ffn_norm.weight`,
 * `blocks.{i}.ffn.{wi_0,wi_1,wo}.weight`, `final_layer_norm.weight`.
 */

export interface T5KeyOptions {
  readonly prefix?: string;
}

export interface CanonicalT5 {
  readonly source: TensorSource;
  readonly prefix: string;
  readonly describe: (canonical: string) => string;
}

const REFERENCE_MARK = 'encoder.final_layer_norm.weight';
const CANONICAL_MARK = 'blocks.0.attn.qkv.weight';

interface Layout {
  readonly prefix: string;
  readonly canonical: boolean;
}

function findLayouts(source: TensorSource): Layout[] {
  const out: Layout[] = [];
  for (const name of source.tensors.keys()) {
    if (name.endsWith(REFERENCE_MARK)) out.push({ prefix: name.slice(0, -REFERENCE_MARK.length), canonical: false });
    else if (name.endsWith(CANONICAL_MARK)) out.push({ prefix: name.slice(0, -CANONICAL_MARK.length), canonical: true });
  }
  return out;
}

function referenceEntries(source: TensorSource, prefix: string): Map<string, CanonicalEntry> {
  const e = `${prefix}encoder.`;
  const table = source.tensors.has(`${e}embed_tokens.weight`) ? `${e}embed_tokens.weight` : `${prefix}shared.weight`;
  const entries = new Map<string, CanonicalEntry>([
    ['embed_tokens.weight', [table]],
    ['relative_attention_bias.weight', [`${e}block.0.layer.0.SelfAttention.relative_attention_bias.weight`]],
    ['final_layer_norm.weight', [`${e}final_layer_norm.weight`]],
  ]);
  for (const i of layerIndices(source, `${e}block.`)) {
    const b = `${e}block.${i}.layer.`;
    const c = `blocks.${i}.`;
    entries.set(`${c}attn_norm.weight`, [`${b}0.layer_norm.weight`]);
    entries.set(`${c}attn.qkv.weight`, ['q', 'k', 'v'].map((x) => `${b}0.SelfAttention.${x}.weight`));
    entries.set(`${c}attn.o.weight`, [`${b}0.SelfAttention.o.weight`]);
    entries.set(`${c}ffn_norm.weight`, [`${b}1.layer_norm.weight`]);
    for (const w of ['wi_0', 'wi_1', 'wo']) entries.set(`${c}ffn.${w}.weight`, [`${b}1.DenseReluDense.${w}.weight`]);
  }
  return entries;
}

function canonicalEntries(source: TensorSource, prefix: string): Map<string, CanonicalEntry> {
  const entries = new Map<string, CanonicalEntry>();
  for (const name of source.tensors.keys()) {
    if (name.startsWith(prefix)) entries.set(name.slice(prefix.length), [name]);
  }
  return entries;
}

/**
 * The T5 encoder of `source` under canonical names. The tied `shared.weight` is ignored when
 * `encoder.embed_tokens.weight` is present (they are the same table); any other tensor under the
 * prefix that the encoder does not read is a CheckpointError naming it.
 */
export function canonicalT5Source(source: TensorSource, o: T5KeyOptions = {}): CanonicalT5 {
  let layouts = findLayouts(source);
  if (o.prefix !== undefined) layouts = layouts.filter((l) => l.prefix === o.prefix);
  const [layout] = layouts;
  if (!layout) throw new CheckpointError(`${o.prefix ?? ''}${REFERENCE_MARK}`, `no T5 encoder in ${source.origin}`);
  if (layouts.length > 1) {
    throw new CheckpointError(REFERENCE_MARK, `${source.origin} holds several T5 encoders (prefixes ${layouts.map((l) => JSON.stringify(l.prefix)).join(', ')}); pass prefix`);
  }
  const entries = layout.canonical ? canonicalEntries(source, layout.prefix) : referenceEntries(source, layout.prefix);
  if (!layout.canonical) checkNoUnexpected(source, layout.prefix, entries, (rest) => rest === 'shared.weight');
  const view = canonicalView(source, entries, layout.prefix ? `${source.origin} (${layout.prefix})` : source.origin);
  return { source: view, prefix: layout.prefix, describe: (name) => entries.get(name)?.join(' + ') ?? `${layout.prefix}${name}` };
}
