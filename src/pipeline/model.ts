import { FileFormatError, InvalidArgumentError, ManifestError } from '../errors.js';
import type { MmditConfig } from '../models/mmdit/config.js';
import type { DenoiserShape } from '../models/mmdit/shape.js';
import type { VaeConfig } from '../models/vae/config.js';
import { vaeScale } from '../models/vae/decoder.js';
import { CLIP_G_PAD, CLIP_L_PAD, createClipTokenizer } from '../text/clip-bpe.js';
import { createT5Tokenizer } from '../text/t5-unigram.js';
import {
  type Catalogue,
  type ComponentName,
  type ModelManifest,
  parseCatalogue,
  parseManifest,
  resolveRelative,
  VARIANTS,
  type WeightsVariant,
} from '../weights/manifest.js';
import type { PipelineHost, PipelineOptions, ResolvedDefaults } from './types.js';

/** A model's manifest and the URL (or path) its shard and tokenizer paths resolve against. */
export interface ResolvedModel {
  readonly manifest: ModelManifest;
  readonly url: string;
}

/** SD3's own defaults (diffusers' StableDiffusion3Pipeline), for manifests that record none. */
export const SD3_DEFAULTS: ResolvedDefaults = { width: 1024, height: 1024, numInferenceSteps: 28, guidanceScale: 7, shift: 3 };
const T5_ROWS_DEFAULT = 77;

async function readJson(host: PipelineHost, url: string, what: string, signal?: AbortSignal): Promise<unknown> {
  const text = await host.readText(url, signal);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new FileFormatError(url, `the ${what} is not JSON (${(cause as Error).message})`);
  }
}

async function loadCatalogue(host: PipelineHost, o: PipelineOptions, signal?: AbortSignal): Promise<{ catalogue: Catalogue; url: string }> {
  const ref = o.catalogue ?? host.defaultCatalogue();
  if (typeof ref === 'object' && !(ref instanceof URL)) return { catalogue: parseCatalogue(ref.catalogue, ref.url), url: ref.url };
  const url = String(ref);
  return { catalogue: parseCatalogue(await readJson(host, url, 'catalogue', signal), url), url };
}

/** A model reference that is a URL or a path rather than a catalogue id. */
function isLocation(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(ref) || ref.includes('/') || ref.includes('\\') || ref.endsWith('.json');
}

async function loadManifest(host: PipelineHost, url: string, signal?: AbortSignal): Promise<ResolvedModel> {
  return { manifest: parseManifest(await readJson(host, url, 'manifest', signal), url), url };
}

/**
 * `model` (catalogue id, manifest URL or parsed manifest) and `variant` to a manifest. Only JSON
 * is read; unknown ids and variants are InvalidArgumentErrors listing what exists.
 */
export async function resolveModel(host: PipelineHost, o: PipelineOptions, signal?: AbortSignal): Promise<ResolvedModel> {
  if (o.variant !== undefined && !(VARIANTS as readonly unknown[]).includes(o.variant)) {
    throw new InvalidArgumentError('variant', VARIANTS.join(', '), o.variant);
  }
  let resolved: ResolvedModel;
  const ref = o.model;
  if (ref !== undefined && typeof ref === 'object' && !(ref instanceof URL)) {
    if (o.manifestUrl === undefined) throw new InvalidArgumentError('manifestUrl', 'the URL a parsed manifest resolves its shard paths against', undefined);
    resolved = { manifest: parseManifest(ref, o.manifestUrl), url: o.manifestUrl };
  } else if (ref !== undefined && (ref instanceof URL || isLocation(ref))) {
    resolved = await loadManifest(host, String(ref), signal);
  } else {
    if (ref !== undefined && (typeof ref !== 'string' || ref === '')) throw new InvalidArgumentError('model', 'a catalogue id, a manifest URL or a manifest', ref);
    const { catalogue, url } = await loadCatalogue(host, o, signal);
    const ids = Object.keys(catalogue.models);
    const id = ref ?? catalogue.default ?? ids[0];
    if (id === undefined) throw new InvalidArgumentError('model', 'a manifest URL or manifest (the catalogue lists no model)', ref);
    const entry = catalogue.models[id];
    if (!entry) throw new InvalidArgumentError('model', `a catalogue id (${ids.join(', ') || 'none'}), a manifest URL or a manifest`, id);
    const variantRef = o.variant === undefined ? undefined : entry.variants?.[o.variant];
    resolved = await loadManifest(host, resolveRelative(url, variantRef ?? entry.manifest), signal);
    if (o.variant !== undefined && resolved.manifest.variant !== o.variant) {
      const offered = [...new Set([resolved.manifest.variant, ...Object.keys(entry.variants ?? {})])];
      throw new InvalidArgumentError('variant', `one of the variants of ${id}: ${offered.join(', ')}`, o.variant);
    }
  }
  if (o.variant !== undefined && resolved.manifest.variant !== o.variant) {
    throw new InvalidArgumentError('variant', `${resolved.manifest.variant} (the variant of ${resolved.url})`, o.variant);
  }
  return resolved;
}

/** What the pipeline needs to know about a model before loading any weights. */
export interface ModelFacts {
  readonly mmdit: MmditConfig;
  readonly vae: VaeConfig;
  readonly vaeScale: number;
  readonly hasT5: boolean;
  /** Zero context rows in T5's place when it is absent or off. */
  readonly t5Rows: number;
  readonly defaults: ResolvedDefaults;
  /** Largest width/height in pixels: VAE scale × patch × the position table's side. */
  readonly maxSize: number;
}

/** The denoiser's context rows for one generation: CLIP's 77, then T5's. */
export interface ContextRows {
  /** T5 rows the conditioning writes (T5's tokens, or the zero rows in its place). */
  readonly t5Tokens: number;
  /** The denoiser shape's context fields. */
  readonly shape: Pick<DenoiserShape, 'contextLength' | 'lastContextRowCount'>;
}

/**
 * With T5 (`t5Tokens` its padded length) its rows follow CLIP's 77. Without it, its `t5Rows` zero
 * rows stay identical through every layer, so one zero row counted `t5Rows` times
 * (DenoiserShape.lastContextRowCount) is the same forward with about half the context work.
 */
export function contextRows(t5Tokens: number | null, t5Rows: number): ContextRows {
  if (t5Tokens !== null) return { t5Tokens, shape: { contextLength: 77 + t5Tokens } };
  if (t5Rows <= 1) return { t5Tokens: t5Rows, shape: { contextLength: 77 + t5Rows } };
  return { t5Tokens: 1, shape: { contextLength: 78, lastContextRowCount: t5Rows } };
}

export function modelFacts(m: ResolvedModel): ModelFacts {
  const c = m.manifest.components;
  for (const need of ['mmdit', 'clip_l', 'clip_g', 'vae'] as const) {
    if (!c[need]) throw new ManifestError(`components.${need}`, `a text-to-image model needs ${need} (in ${m.url})`);
  }
  const mmdit = c.mmdit?.config as unknown as MmditConfig;
  const vae = c.vae?.config as unknown as VaeConfig;
  for (const [path, v] of [['components.mmdit.config.patch', mmdit.patch], ['components.mmdit.config.posEmbedMaxSize', mmdit.posEmbedMaxSize], ['components.mmdit.config.contextDim', mmdit.contextDim]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ManifestError(path, `must be a positive integer (in ${m.url})`);
  }
  if (!Array.isArray(vae.channels) || vae.channels.length < 1) throw new ManifestError('components.vae.config.channels', `must list the VAE's channels per level (in ${m.url})`);
  const scale = vaeScale(vae);
  const hasT5 = m.manifest.textEncoders?.t5 === null ? false : c.t5 !== undefined;
  const d = m.manifest.defaults ?? {};
  return {
    mmdit,
    vae,
    vaeScale: scale,
    hasT5,
    t5Rows: m.manifest.textEncoders?.t5Rows ?? T5_ROWS_DEFAULT,
    defaults: {
      width: d.width ?? SD3_DEFAULTS.width,
      height: d.height ?? SD3_DEFAULTS.height,
      numInferenceSteps: d.steps ?? SD3_DEFAULTS.numInferenceSteps,
      guidanceScale: d.guidanceScale ?? SD3_DEFAULTS.guidanceScale,
      shift: d.shift ?? SD3_DEFAULTS.shift,
    },
    maxSize: scale * mmdit.patch * mmdit.posEmbedMaxSize,
  };
}

/** Token ids of one prompt for the three encoders (T5 only when it runs). */
export interface PromptTokens {
  readonly clipL: Int32Array;
  readonly clipG: Int32Array;
  readonly t5?: Int32Array;
}

export interface PromptTokenizer {
  /** `prompt2`/`prompt3` feed CLIP-G and T5 when given (diffusers' rule). */
  tokenize(prompt: string, prompt2: string, prompt3: string, maxSequenceLength?: number): PromptTokens;
}

/** The model's own tokenizer files (`manifest.tokenizers`), never a shared folder. */
export async function loadTokenizer(host: PipelineHost, m: ResolvedModel, t5: boolean, signal?: AbortSignal): Promise<PromptTokenizer> {
  const t = m.manifest.tokenizers;
  const clipFiles = t['clip_l'] ?? t['clip_g'];
  const vocab = clipFiles?.['vocab'];
  const merges = clipFiles?.['merges'];
  if (!vocab || !merges) throw new ManifestError('tokenizers.clip_l', `the model ships no CLIP vocab/merges files (in ${m.url})`);
  const at = (path: string) => resolveRelative(m.url, path);
  const [vocabJson, mergesTxt] = await Promise.all([host.readText(at(vocab), signal), host.readText(at(merges), signal)]);
  const clip = createClipTokenizer({ vocabJson, mergesTxt, fileNames: { vocab: at(vocab), merges: at(merges) } });
  let t5Tok: ReturnType<typeof createT5Tokenizer> | null = null;
  if (t5) {
    const file = t['t5']?.['tokenizer'];
    if (!file) throw new ManifestError('tokenizers.t5', `the model has T5 but ships no T5 tokenizer.json (in ${m.url})`);
    t5Tok = createT5Tokenizer({ tokenizerJson: await host.readText(at(file), signal), fileName: at(file) });
  }
  return {
    tokenize(prompt, prompt2, prompt3, maxSequenceLength) {
      return {
        clipL: clip.encodeSd3(prompt, CLIP_L_PAD).ids,
        clipG: clip.encodeSd3(prompt2, CLIP_G_PAD).ids,
        ...(t5Tok ? { t5: maxSequenceLength === undefined ? t5Tok.encodeSd3(prompt3) : t5Tok.encodeDiffusers(prompt3, maxSequenceLength) } : {}),
      };
    },
  };
}

export type { ComponentName, WeightsVariant };
