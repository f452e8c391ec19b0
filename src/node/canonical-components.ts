import { basename } from 'node:path';
import { CheckpointError } from '../errors.js';
import { openClipCheckpoint } from '../models/clip/index.js';
import type { ClipModel } from '../models/clip/config.js';
import type { MmditConfig } from '../models/mmdit/config.js';
import { canonicalizeMmdit } from '../models/mmdit/keys.js';
import { openT5Checkpoint } from '../models/t5/index.js';
import { openVaeCheckpoint } from '../models/vae/index.js';
import { clipOverrides, t5Overrides, vaeOverrides } from '../models/stored-config.js';
import { COMPONENTS, type ComponentName, type JsonValue } from '../weights/manifest.js';
import type { TensorSource } from '../weights/tensor-source.js';
import { detectFamily, familyOf, openWeightsPath } from './weights-source.js';

/**
 * From checkpoint files to the components a model manifest holds: which component each input is,
 * and each one under canonical names and layouts (each model's keys.ts: fused q/k/v, conv weights
 * `[out, kh, kw, in]`) with its derived configuration, checked completely before any tensor is
 * read (missing, unexpected or mis-shaped → CheckpointError naming the key).
 */

export type JsonObject = { readonly [key: string]: JsonValue };

export interface CanonicalComponent {
  readonly component: ComponentName;
  readonly source: TensorSource;
  readonly config: JsonObject;
  /** The input it came from. */
  readonly origin: string;
}

export interface AssembledInputs {
  readonly components: { readonly [C in ComponentName]?: CanonicalComponent };
  readonly notes: readonly string[];
  /** The MM-DiT configuration when a denoiser is among the inputs. */
  readonly mmdit: MmditConfig | null;
}

/** `clip_l=path` style input: the component is given, not detected. */
export function parseInputSpec(spec: string): { path: string; component: ComponentName | null } {
  const m = /^([a-z0-9_]+)=(.+)$/.exec(spec);
  if (m && (COMPONENTS as readonly string[]).includes(m[1] as string)) return { component: m[1] as ComponentName, path: m[2] as string };
  return { component: null, path: spec };
}

const CLIP_NAME_HINT: Readonly<Record<ClipModel, RegExp>> = {
  clip_l: /(^|[^a-z])(clip[_-]?l|text_encoder)([^a-z0-9_]|$)/i,
  clip_g: /(^|[^a-z])(clip[_-]?g|text_encoder_2)([^a-z0-9]|$)/i,
};
const CLIP_WIDTH: ReadonlyMap<number, ClipModel> = new Map([[768, 'clip_l'], [1280, 'clip_g']]);

/** CLIP-L or CLIP-G for a loose CLIP file: its path names it, else the released width does. */
function whichClip(source: TensorSource, path: string): ComponentName {
  // The file name first, then the whole path (`text_vae/clip_g/weights.safetensors`).
  for (const text of [basename(path), path]) {
    const hinted = (Object.keys(CLIP_NAME_HINT) as ClipModel[]).filter((m) => CLIP_NAME_HINT[m].test(text));
    if (hinted.length === 1) return hinted[0] as ComponentName;
  }
  const token = [...source.tensors.values()].find((t) => t.name.endsWith('token_embedding.weight'));
  const byWidth = CLIP_WIDTH.get(token?.shape[1] ?? 0);
  if (byWidth) return byWidth;
  throw new CheckpointError(
    token?.name ?? path,
    `${basename(path)} is a CLIP text encoder, but neither its path nor its width (${token?.shape[1]}) says whether it is CLIP-L or CLIP-G; pass it as clip_l=<path> or clip_g=<path>`,
  );
}

/**
 * Opens every input and assigns its components: by prefix (single file), folder (diffusers),
 * manifest entry, `component=` in the spec, or detection from the names. A component supplied
 * twice is an error, as silently picking one copy would hide a mis-assembled model.
 */
export async function assembleInputs(specs: readonly string[], wanted: readonly ComponentName[] | null = null, signal?: AbortSignal): Promise<AssembledInputs> {
  const raw = new Map<ComponentName, { source: TensorSource; origin: string; config?: JsonObject }>();
  const notes: string[] = [];
  const add = (component: ComponentName, source: TensorSource, origin: string, config?: JsonObject): void => {
    const previous = raw.get(component);
    if (previous) throw new CheckpointError(component, `is supplied twice: by ${previous.origin} and by ${origin}`);
    raw.set(component, config ? { source, origin, config } : { source, origin });
  };
  for (const spec of specs) {
    const { path, component } = parseInputSpec(spec);
    const opened = await openWeightsPath(path, signal);
    notes.push(...opened.notes);
    const found = Object.entries(opened.components) as [ComponentName, TensorSource][];
    if (component) {
      const source = opened.components[component] ?? opened.loose;
      if (!source) throw new CheckpointError(path, `holds no ${component} component (it holds ${found.map(([c]) => c).join(', ') || 'none'})`);
      if (familyOf(component) !== detectFamily(source)) throw new CheckpointError(path, `was given as ${component} but holds a ${detectFamily(source)} checkpoint`);
      add(component, source, path, opened.manifest?.components[component]?.config);
      continue;
    }
    for (const [c, source] of found) add(c, source, path, opened.manifest?.components[c]?.config);
    if (opened.loose) {
      const family = detectFamily(opened.loose);
      add(family === 'clip' ? whichClip(opened.loose, path) : family, opened.loose, path);
    }
  }
  const components: { [C in ComponentName]?: CanonicalComponent } = {};
  let mmdit: MmditConfig | null = null;
  for (const component of COMPONENTS) {
    const input = raw.get(component);
    if (!input || (wanted && !wanted.includes(component))) continue;
    const prepared = canonicalComponent(component, input.source, input.config);
    components[component] = { component, source: sortedByName(prepared.source), config: prepared.config, origin: input.origin };
    if (component === 'mmdit') mmdit = prepared.mmdit;
  }
  if (wanted) {
    const missing = wanted.filter((c) => !components[c]);
    if (missing.length > 0) throw new CheckpointError(missing.join(', '), `asked for, but none of the inputs holds it (found ${Object.keys(components).join(', ') || 'nothing'})`);
  }
  if (Object.keys(components).length === 0) throw new CheckpointError(specs.join(', '), 'no model component found in the inputs');
  return { components, notes, mmdit };
}

/**
 * The same tensors in name order: the converter writes tensors in iteration order, so this makes
 * a model's shards (and their hashes, the cache keys) independent of the checkpoint's layout.
 */
function sortedByName(source: TensorSource): TensorSource {
  const tensors = new Map([...source.tensors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const read = source.read.bind(source);
  const readScales = source.readScales?.bind(source);
  return { origin: source.origin, tensors, read, ...(readScales ? { readScales } : {}) };
}

/** Plain JSON of a configuration record (readonly arrays and nulls kept, undefined dropped). */
function json(config: object): JsonObject {
  return JSON.parse(JSON.stringify(config)) as JsonObject;
}

/** One component under canonical names with its configuration (see the module comment). */
export function canonicalComponent(component: ComponentName, source: TensorSource, stored?: JsonObject): { source: TensorSource; config: JsonObject; mmdit: MmditConfig | null } {
  switch (component) {
    case 'mmdit': {
      const canonical = canonicalizeMmdit(source);
      return { source: canonical.source, config: json(canonical.config), mmdit: canonical.config };
    }
    case 'clip_l':
    case 'clip_g': {
      const { canonical, config } = openClipCheckpoint(source, { model: component, ...clipOverrides(stored) });
      return { source: canonical, config: json(config), mmdit: null };
    }
    case 't5': {
      const { canonical, config } = openT5Checkpoint(source, t5Overrides(stored));
      return { source: canonical, config: json(config), mmdit: null };
    }
    case 'vae': {
      const { canonical, config } = openVaeCheckpoint(source, vaeOverrides(stored));
      return { source: canonical, config: json(config), mmdit: null };
    }
  }
}

/** The architecture family a denoiser configuration belongs to (manifest `kind`). */
export function mmditKind(config: MmditConfig): string {
  if (config.dualAttentionLayers.length > 0) return 'sd3.5-medium';
  return config.qkNorm ? 'sd3.5-large' : 'sd3';
}
