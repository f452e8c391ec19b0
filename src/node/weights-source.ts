import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CheckpointError, FileFormatError } from '../errors.js';
import { DIFFUSERS_FOLDERS, openDiffusersModel, SINGLE_FILE_PREFIXES, splitSingleFile } from '../weights/checkpoint.js';
import { COMPONENTS, type ComponentName, type ModelManifest, parseManifest, resolveRelative } from '../weights/manifest.js';
import { openOnnx } from '../weights/onnx.js';
import { openDiffusersShards, openSafetensors, openSafetensorsSet, parseSafetensorsIndex } from '../weights/safetensors.js';
import type { TensorSource } from '../weights/tensor-source.js';
import { externalDataReader, fileDirectoryReader, fileSource } from './file-source.js';
import { localManifestComponent } from './local-manifest.js';
import { parseJson, readTextChecked, typed } from './fs-checks.js';

/**
 * Weights by path, for the CLI (`convert`, `verify --weights`) and tools: a converted model
 * (`manifest.json`, or the folder holding it), an SD3 single-file checkpoint (components under
 * their prefixes), a diffusers folder (the model root or one component's folder), a sharded
 * `*.safetensors.index.json`, a loose `.safetensors`, or an ONNX model (initialisers, external data
 * beside it). Only headers are read; tensors are read on demand. Names stay as the files have them:
 * canonical naming is each model's keys.ts.
 */

/** A component family recognised from tensor names; the two CLIPs share one. */
export type ComponentFamily = 'mmdit' | 'clip' | 't5' | 'vae';

export interface OpenedWeights {
  readonly path: string;
  /** Components the file's structure names (prefixes, diffusers folders, manifest components). */
  readonly components: { readonly [C in ComponentName]?: TensorSource };
  /** A file holding one component without saying which: the names tell (`detectFamily`). */
  readonly loose: TensorSource | null;
  /** Set when the input is a converted model. */
  readonly manifest: ModelManifest | null;
  /** Tensors left out (under no component prefix, unsupported dtypes), for the caller to report. */
  readonly notes: readonly string[];
}

export const MANIFEST_FILE = 'manifest.json';

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
const isDirectory = (path: string): Promise<boolean> => stat(path).then((s) => s.isDirectory(), () => false);

/** Opens `path` (see the module comment) without reading any tensor data. */
export async function openWeightsPath(path: string, signal?: AbortSignal): Promise<OpenedWeights> {
  const info = await typed(path, 'read', () => stat(path));
  if (info.isDirectory()) return openFolder(path, signal);
  if (path.endsWith('.safetensors.index.json')) return fromTensors(path, await openIndexedShards(path, signal));
  if (path.endsWith('.json')) return openManifestFile(path);
  if (path.endsWith('.onnx')) {
    const onnx = await openOnnx(await fileSource(path), { readExternal: externalDataReader(path), ...(signal ? { signal } : {}) });
    return fromTensors(path, onnx, onnx.skipped.length > 0 ? [`${onnx.skipped.length} non-float initialisers of ${basename(path)} left out (graph constants)`] : []);
  }
  if (path.endsWith('.safetensors') || path.endsWith('.sft')) {
    const st = await openSafetensors(await fileSource(path), { unsupported: 'skip', ...(signal ? { signal } : {}) });
    return fromTensors(path, st, skippedBuffers(path, st.skipped));
  }
  throw new FileFormatError(path, 'unknown weights file: expected .safetensors, .safetensors.index.json, .onnx, a manifest .json or a folder');
}

/** A single-file checkpoint splits by prefix; anything else is one loose component. */
function fromTensors(path: string, source: TensorSource, notes: readonly string[] = []): OpenedWeights {
  const prefixed = [...source.tensors.keys()].some((name) => Object.values(SINGLE_FILE_PREFIXES).some((p) => name.startsWith(p)));
  if (!prefixed) return { path, components: {}, loose: source, manifest: null, notes };
  const { components, unassigned } = splitSingleFile(source);
  const left = unassigned.length > 0 ? [`${unassigned.length} tensors under no component prefix left out (e.g. ${unassigned.slice(0, 3).join(', ')})`] : [];
  return { path, components, loose: null, manifest: null, notes: [...notes, ...left] };
}

/**
 * Integer and boolean tensors are buffers, not weights (transformers' int64 `position_ids`): left
 * out with a note. A float weight in a dtype the engine cannot read (F64, F8) is an error naming it.
 */
function skippedBuffers(file: string, skipped: readonly { name: string; dtype: string }[]): string[] {
  const weight = skipped.find((s) => /^B?F\d/.test(s.dtype));
  if (weight) throw new CheckpointError(weight.name, `dtype ${weight.dtype} in ${file} is not supported`, 'F32, F16 or BF16', weight.dtype);
  return skipped.map((s) => `${s.name} (${s.dtype}) in ${basename(file)} left out: an integer buffer, not a weight`);
}

async function openManifestFile(path: string): Promise<OpenedWeights> {
  const manifest = parseManifest(parseJson(await readTextChecked(path), path), path);
  const components: { [C in ComponentName]?: TensorSource } = {};
  for (const c of COMPONENTS) {
    if (manifest.components[c]) components[c] = localManifestComponent(path, manifest, c);
  }
  return { path, components, loose: null, manifest, notes: [] };
}

async function openIndexedShards(path: string, signal?: AbortSignal): Promise<TensorSource> {
  const weightMap = parseSafetensorsIndex(await readTextChecked(path), path);
  const dir = dirname(path);
  const files = [...new Set(weightMap.values())];
  const merged = await openSafetensorsSet(await Promise.all(files.map((f) => fileSource(join(dir, f)))), { unsupported: 'skip', ...(signal ? { signal } : {}) });
  for (const [tensor, shard] of weightMap) {
    if (!merged.tensors.has(tensor)) throw new FileFormatError(join(dir, shard), `tensor "${tensor}" listed in ${path} is missing from the shard`);
  }
  return merged;
}

/** A converted model's folder, a diffusers root, or one diffusers component folder. */
async function openFolder(dir: string, signal?: AbortSignal): Promise<OpenedWeights> {
  if (await exists(join(dir, MANIFEST_FILE))) return openManifestFile(join(dir, MANIFEST_FILE));
  const folders = Object.values(DIFFUSERS_FOLDERS);
  const present = await Promise.all(folders.map((f) => isDirectory(join(dir, f))));
  if (present.some(Boolean) || (await exists(join(dir, 'model_index.json')))) {
    const components = await openDiffusersModel(fileDirectoryReader, dir, signal ? { signal } : {});
    return { path: dir, components, loose: null, manifest: null, notes: [] };
  }
  const names = await typed(dir, 'read', () => readdir(dir));
  if (!names.some((n) => n.endsWith('.safetensors') || n.endsWith('.safetensors.index.json'))) {
    throw new FileFormatError(dir, `holds no ${MANIFEST_FILE}, no diffusers component folders (${folders.join(', ')}) and no safetensors`);
  }
  const source = await openDiffusersShards(fileDirectoryReader, dir, { unsupported: 'skip', ...(signal ? { signal } : {}) });
  return fromTensors(dir, source);
}

const CLIP_TOKEN = 'text_model.embeddings.token_embedding.weight';
const T5_MARK = 'encoder.final_layer_norm.weight';
const VAE_MARK = /(^|\.)(decoder|encoder)\.conv_in\.weight$/;
const MMDIT_MARKS = ['x_embedder.proj.weight', 'pos_embed.proj.weight'];

/** The families whose marker tensors `source` holds (at the top level or under any prefix). */
export function detectFamilies(source: TensorSource): ComponentFamily[] {
  const found = new Set<ComponentFamily>();
  const names = [...source.tensors.keys()];
  const sibling = (name: string, suffix: string, other: string): boolean => source.tensors.has(name.slice(0, -suffix.length) + other);
  for (const name of names) {
    // Canonical names (converted models) are recognised by a second tensor beside the marker.
    if (name.endsWith(CLIP_TOKEN) || (name.endsWith('token_embedding.weight') && sibling(name, 'token_embedding.weight', 'layers.0.attn.qkv.weight'))) found.add('clip');
    else if (name.endsWith(T5_MARK) || (name.endsWith('blocks.0.attn.qkv.weight') && sibling(name, 'blocks.0.attn.qkv.weight', 'relative_attention_bias.weight'))) found.add('t5');
    else if (VAE_MARK.test(name)) found.add('vae');
    else if (MMDIT_MARKS.some((m) => name.endsWith(m)) && names.some((n) => /(^|\.)(joint_blocks|transformer_blocks)\.0\./.test(n))) found.add('mmdit');
  }
  return [...found];
}

/** The one family of a loose file; none or several → CheckpointError naming the file. */
export function detectFamily(source: TensorSource): ComponentFamily {
  const families = detectFamilies(source);
  if (families.length === 1) return families[0] as ComponentFamily;
  throw new CheckpointError(
    source.origin,
    families.length === 0
      ? 'holds no MM-DiT, CLIP, T5 or VAE tensors this engine knows (no x_embedder/pos_embed.proj, text_model.embeddings, encoder.final_layer_norm or conv_in)'
      : `holds several components without SD3 single-file prefixes (${families.join(', ')}); split it or use the single-file prefixes (${Object.values(SINGLE_FILE_PREFIXES).join(', ')})`,
  );
}

/** Which family a component belongs to. */
export function familyOf(component: ComponentName): ComponentFamily {
  return component === 'clip_l' || component === 'clip_g' ? 'clip' : component;
}

/**
 * The tensors of one component at `path`, or null when the weights hold no such component. A
 * loose CLIP file serves both `clip_l` and `clip_g` (the model's keys.ts and the caller's
 * configuration tell them apart).
 */
export async function openWeightsComponent(path: string, component: ComponentName, signal?: AbortSignal): Promise<TensorSource | null> {
  const opened = await openWeightsPath(resolve(path), signal);
  const named = opened.components[component];
  if (named) return named;
  if (opened.loose && detectFamilies(opened.loose).includes(familyOf(component))) return opened.loose;
  return null;
}

/**
 * `openWeightsComponent` for callers that need the component (verify's denoiser runner:
 * `openWeights(path)` in verify-mmdit.ts can return `openWeightsFile(path)`).
 */
export async function openWeightsFile(path: string, component: ComponentName = 'mmdit', signal?: AbortSignal): Promise<TensorSource> {
  const source = await openWeightsComponent(path, component, signal);
  if (!source) throw new CheckpointError(path, `holds no ${component} component`);
  return source;
}
