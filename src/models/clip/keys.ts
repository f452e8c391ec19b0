import { CheckpointError } from '../../errors.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { type CanonicalEntry, canonicalView, checkNoUnexpected, layerIndices } from '../canonical-view.js';
import type { ClipModel } from './config.js';

/**
 * CLIP text-encoder checkpoints → canonical names. Layouts read:
 * - reference / transformers (`text_model.embeddings.…`, `text_model.encoder.layers.{i}.…`,
 *   `text_model.final_layer_norm.…`, `text_projection.weight`), which are also diffusers'
 *   `text_encoder/` (L) and `text_encoder_2/` (G) folders;
 * - the same under a prefix, as SD3 single files store them (`text_encoders.clip_l.transformer.`,
 *   `text_encoders.clip_g.transformer.`);
 * - canonical names (converted manifests), optionally under a prefix.
 * Canonical names: `token_embedding.weight`, `position_embedding.weight`,
 * `layers.{i}.{layer_norm1,layer_norm2}.{weight,bias}`, `layers.{i}.attn.qkv.{weight,bias}` (q, k, v
 * fused along rows), `layers.{i}.attn.out.{weight,bias}`, `layers.{i}.mlp.{fc1,fc2}.{weight,bias}`,
 * `final_layer_norm.{weight,bias}`, `text_projection.weight` (when present).
 */

export interface ClipKeyOptions {
  /** Picks the encoder in a checkpoint holding both (SD3 single files). */
  readonly model?: ClipModel;
  /** The key prefix to read, when auto-detection is not wanted. */
  readonly prefix?: string;
}

export interface CanonicalClip {
  readonly source: TensorSource;
  /** The prefix the tensors were found under ('' for standalone files). */
  readonly prefix: string;
  /** The model the prefix names (`…clip_l…` / `…clip_g…`), if it names one. */
  readonly modelHint: ClipModel | null;
  /** Canonical name → the checkpoint names it was made from (for error messages). */
  readonly describe: (canonical: string) => string;
}

const REFERENCE_TOKEN = 'text_model.embeddings.token_embedding.weight';
const CANONICAL_TOKEN = 'token_embedding.weight';
/** Buffers and training-only scalars that checkpoints carry and no forward reads. */
const IGNORED = /^(text_model\.embeddings\.position_ids|logit_scale|position_ids)$/;

interface Layout {
  readonly prefix: string;
  readonly canonical: boolean;
}

function findLayouts(source: TensorSource): Layout[] {
  const out: Layout[] = [];
  for (const name of source.tensors.keys()) {
    if (name.endsWith(REFERENCE_TOKEN)) out.push({ prefix: name.slice(0, -REFERENCE_TOKEN.length), canonical: false });
    else if (name.endsWith(CANONICAL_TOKEN) && !name.endsWith(`embeddings.${CANONICAL_TOKEN}`)) {
      out.push({ prefix: name.slice(0, -CANONICAL_TOKEN.length), canonical: true });
    }
  }
  return out;
}

function hintOf(prefix: string): ClipModel | null {
  if (/clip_l/i.test(prefix)) return 'clip_l';
  if (/clip_g/i.test(prefix)) return 'clip_g';
  return null;
}

function pickLayout(source: TensorSource, o: ClipKeyOptions): Layout {
  let layouts = findLayouts(source);
  if (o.prefix !== undefined) layouts = layouts.filter((l) => l.prefix === o.prefix);
  if (layouts.length > 1 && o.model) layouts = layouts.filter((l) => hintOf(l.prefix) === o.model);
  const [layout] = layouts;
  if (!layout) {
    throw new CheckpointError(`${o.prefix ?? ''}${REFERENCE_TOKEN}`, `no CLIP text encoder${o.model ? ` (${o.model})` : ''} in ${source.origin}`);
  }
  if (layouts.length > 1) {
    throw new CheckpointError(REFERENCE_TOKEN, `${source.origin} holds several CLIP text encoders (prefixes ${layouts.map((l) => JSON.stringify(l.prefix)).join(', ')}); pass model or prefix`);
  }
  return layout;
}

/** Canonical name → checkpoint names, for the reference layout under `prefix`. */
function referenceEntries(source: TensorSource, prefix: string): Map<string, CanonicalEntry> {
  const t = `${prefix}text_model.`;
  const entries = new Map<string, CanonicalEntry>([
    ['token_embedding.weight', [`${t}embeddings.token_embedding.weight`]],
    ['position_embedding.weight', [`${t}embeddings.position_embedding.weight`]],
    ['final_layer_norm.weight', [`${t}final_layer_norm.weight`]],
    ['final_layer_norm.bias', [`${t}final_layer_norm.bias`]],
  ]);
  if (source.tensors.has(`${prefix}text_projection.weight`)) entries.set('text_projection.weight', [`${prefix}text_projection.weight`]);
  for (const i of layerIndices(source, `${t}encoder.layers.`)) {
    const l = `${t}encoder.layers.${i}.`;
    const c = `layers.${i}.`;
    for (const p of ['weight', 'bias']) {
      entries.set(`${c}layer_norm1.${p}`, [`${l}layer_norm1.${p}`]);
      entries.set(`${c}attn.qkv.${p}`, ['q', 'k', 'v'].map((x) => `${l}self_attn.${x}_proj.${p}`));
      entries.set(`${c}attn.out.${p}`, [`${l}self_attn.out_proj.${p}`]);
      entries.set(`${c}layer_norm2.${p}`, [`${l}layer_norm2.${p}`]);
      entries.set(`${c}mlp.fc1.${p}`, [`${l}mlp.fc1.${p}`]);
      entries.set(`${c}mlp.fc2.${p}`, [`${l}mlp.fc2.${p}`]);
    }
  }
  return entries;
}

/** Canonical layout under `prefix`: every tensor under it, renamed by dropping the prefix. */
function canonicalEntries(source: TensorSource, prefix: string): Map<string, CanonicalEntry> {
  const entries = new Map<string, CanonicalEntry>();
  for (const name of source.tensors.keys()) {
    if (name.startsWith(prefix) && !IGNORED.test(name.slice(prefix.length))) entries.set(name.slice(prefix.length), [name]);
  }
  return entries;
}

/**
 * The CLIP text encoder of `source` under canonical names. Tensors under the chosen prefix that
 * the model does not read are CheckpointErrors naming them; a missing tensor is named by its
 * checkpoint key.
 */
export function canonicalClipSource(source: TensorSource, o: ClipKeyOptions = {}): CanonicalClip {
  const layout = pickLayout(source, o);
  const entries = layout.canonical ? canonicalEntries(source, layout.prefix) : referenceEntries(source, layout.prefix);
  if (!layout.canonical) checkNoUnexpected(source, layout.prefix, entries, (rest) => IGNORED.test(rest));
  const view = canonicalView(source, entries, layout.prefix ? `${source.origin} (${layout.prefix})` : source.origin);
  return {
    source: view,
    prefix: layout.prefix,
    modelHint: hintOf(layout.prefix),
    describe: (name) => entries.get(name)?.join(' + ') ?? `${layout.prefix}${name}`,
  };
}
