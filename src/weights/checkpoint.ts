import { CheckpointError, FileFormatError } from '../errors.js';
import type { ComponentName } from './manifest.js';
import { openDiffusersShards, type DirectoryReader, type OpenSafetensorsOptions } from './safetensors.js';
import type { TensorInfo, TensorSource } from './tensor-source.js';

/**
 * Splitting official checkpoints into the engine's components. A single-file SD3/SD3.5
 * checkpoint keeps every component under a prefix; a diffusers folder keeps each in a subfolder.
 * Names are left as the checkpoint has them unless `strip` is asked for: canonical naming is the
 * job of each model's keys.ts, which accepts both layouts.
 */

/** Prefixes of the single-file layout (Stability AI / ComfyUI), in the order they are tested. */
export const SINGLE_FILE_PREFIXES: Readonly<Record<ComponentName, string>> = {
  mmdit: 'model.diffusion_model.',
  clip_l: 'text_encoders.clip_l.',
  clip_g: 'text_encoders.clip_g.',
  t5: 'text_encoders.t5xxl.',
  vae: 'first_stage_model.',
};

/** Diffusers subfolders of each component. */
export const DIFFUSERS_FOLDERS: Readonly<Record<ComponentName, string>> = {
  mmdit: 'transformer',
  clip_l: 'text_encoder',
  clip_g: 'text_encoder_2',
  t5: 'text_encoder_3',
  vae: 'vae',
};

/** The tensors of `source` whose names start with `prefix`, optionally without it. */
export function prefixView(source: TensorSource, prefix: string, strip = false): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  const original = new Map<string, string>();
  for (const [name, info] of source.tensors) {
    if (!name.startsWith(prefix)) continue;
    const local = strip ? name.slice(prefix.length) : name;
    tensors.set(local, strip ? { ...info, name: local } : info);
    original.set(local, name);
  }
  const view: TensorSource = {
    origin: `${source.origin} [${prefix}]`,
    tensors,
    read(name, signal) {
      const full = original.get(name);
      if (full === undefined) return Promise.reject(new CheckpointError(name, `no such tensor in ${view.origin}`));
      return source.read(full, signal);
    },
  };
  const readScales = source.readScales;
  if (!readScales) return view;
  return {
    ...view,
    readScales: (name, signal) => readScales.call(source, original.get(name) ?? name, signal),
  };
}

/**
 * The components of a single-file checkpoint. Components absent from the file (no T5, no VAE)
 * are left out; tensors under none of the prefixes are reported so nothing is dropped silently.
 */
export function splitSingleFile(source: TensorSource, options: { strip?: boolean } = {}): {
  components: { [C in ComponentName]?: TensorSource };
  unassigned: string[];
} {
  const components: { [C in ComponentName]?: TensorSource } = {};
  const prefixes = Object.entries(SINGLE_FILE_PREFIXES) as [ComponentName, string][];
  for (const [component, prefix] of prefixes) {
    const view = prefixView(source, prefix, options.strip ?? false);
    if (view.tensors.size > 0) components[component] = view;
  }
  const unassigned = [...source.tensors.keys()].filter((n) => !prefixes.some(([, p]) => n.startsWith(p)));
  return { components, unassigned };
}

/** The components of a diffusers folder; folders that are absent (e.g. no T5) are left out. */
export async function openDiffusersModel(
  io: DirectoryReader,
  dir: string,
  options: OpenSafetensorsOptions & { components?: readonly ComponentName[] } = {},
): Promise<{ [C in ComponentName]?: TensorSource }> {
  const base = dir === '' || dir.endsWith('/') ? dir : dir + '/';
  const out: { [C in ComponentName]?: TensorSource } = {};
  const wanted = options.components ?? (Object.keys(DIFFUSERS_FOLDERS) as ComponentName[]);
  for (const component of wanted) {
    try {
      // Text encoders from transformers carry int64 position_ids buffers no model reads.
      out[component] = await openDiffusersShards(io, base + DIFFUSERS_FOLDERS[component], { unsupported: 'skip', ...options });
    } catch (error) {
      if (error instanceof FileFormatError && error.reason.startsWith('no weights found')) continue;
      throw error;
    }
  }
  if (Object.keys(out).length === 0) throw new FileFormatError(dir, `no diffusers component folders found (${Object.values(DIFFUSERS_FOLDERS).join(', ')})`);
  return out;
}
