import type { EngineLimits } from '../gpu/limits.js';
import type { RgbaImage } from '../tensor/image.js';
import type { ShardCache } from '../weights/cache.js';
import type { Catalogue, ComponentName, ModelManifest, WeightsVariant } from '../weights/manifest.js';
import type { Progress } from './progress.js';

export type { RgbaImage } from '../tensor/image.js';

/** Where ids in `model` are looked up: a catalogue URL, or a parsed catalogue with the URL its paths resolve against. */
export type CatalogueRef = string | URL | { readonly catalogue: Catalogue; readonly url: string };

/** What a second `generate` does while one runs: wait its turn, fail at once, or cancel the running one. */
export type BusyPolicy = 'queue' | 'reject' | 'abort-and-queue';

export interface PipelineOptions {
  /**
   * A catalogue id (`weights-manifest.json`), a manifest URL, or a parsed manifest (then
   * `manifestUrl` says where its shard paths resolve). Default: the catalogue's default model.
   */
  readonly model?: string | URL | ModelManifest;
  /** Where a parsed `model` manifest lives (its shards and tokenizers resolve against it). */
  readonly manifestUrl?: string;
  readonly catalogue?: CatalogueRef;
  /** Weights variant; a catalogue id picks that variant's manifest (default: the catalogue's default). */
  readonly variant?: WeightsVariant;
  /** Compute precision (default f32); f16 needs the adapter's `shader-f16`. */
  readonly precision?: 'f32' | 'f16';
  /** `t5: false` never downloads T5 and puts zero rows in its place; `true` requires it. Default: T5 when the model has it. */
  readonly textEncoders?: { readonly t5?: boolean };
  /** `sequential`: text encoders are freed before the denoiser runs, the VAE loads only to decode. Default `all`. */
  readonly residency?: 'all' | 'sequential';
  /** Keep shards in the browser's cache (IndexedDB) or Node's `cacheDir` (default true). */
  readonly cache?: boolean;
  readonly busyPolicy?: BusyPolicy;
  /** A GPU object (default `navigator.gpu`; in Node, Dawn). */
  readonly gpu?: GPU;
  /** Engine-side caps below the device's (tests force splitting with them). */
  readonly limits?: EngineLimits;
  readonly onProgress?: (event: Progress) => void;
  readonly signal?: AbortSignal;
}

export interface GenerateOptions {
  /** The prompt (all three encoders unless `prompt2`/`prompt3` are given). An empty prompt is the unconditional one. */
  readonly prompt: string;
  /** CLIP-G's prompt (diffusers' `prompt_2`). */
  readonly prompt2?: string;
  /** T5's prompt (diffusers' `prompt_3`). */
  readonly prompt3?: string;
  readonly negativePrompt?: string;
  readonly width?: number;
  readonly height?: number;
  readonly numInferenceSteps?: number;
  readonly guidanceScale?: number;
  readonly shift?: number;
  /** Image i of the call uses seed `seed + i` (default 0). */
  readonly seed?: number;
  /** 1–4 images, run as one denoiser batch. */
  readonly numImagesPerPrompt?: number;
  /** T5 tokens (diffusers' `max_sequence_length`, 1–512); default SD3's reference rule (≥ 77, never truncated). */
  readonly maxSequenceLength?: number;
  /** Image-to-image: the start picture, `width`×`height` RGBA8. */
  readonly image?: RgbaImage;
  /** Image-to-image strength in (0, 1] (default 0.6 with an image). */
  readonly strength?: number;
  /** Latent previews on `denoise` events (no VAE cost). Default false. */
  readonly previews?: boolean;
  readonly onProgress?: (event: Progress) => void;
  readonly signal?: AbortSignal;
}

export interface Timings {
  /** Tokenize + text encoders + conditioning, ms. */
  readonly textMs: number;
  /** Loading components during this call (sequential residency, or first use), ms. */
  readonly loadMs: number;
  /** Graph compiles during this call, ms. */
  readonly compileMs: number;
  /** Per denoising step, ms between step completions. */
  readonly stepMs: readonly number[];
  readonly decodeMs: number;
  readonly totalMs: number;
}

/** High-water marks of engine GPU buffers per phase, bytes (weights included). */
export interface PeakGpuBytes {
  readonly text: number;
  readonly denoise: number;
  readonly decode: number;
  readonly total: number;
}

export interface GenerateResult {
  readonly images: RgbaImage[];
  readonly seeds: number[];
  /** A1111-style "parameters" text (also what the PNG's tEXt chunk holds). */
  readonly parameters: string;
  readonly timings: Timings;
  readonly peakGpuBytes: PeakGpuBytes;
}

export interface PipelineInfo {
  readonly model: string;
  readonly variant: WeightsVariant;
  readonly precision: 'f32' | 'f16';
  readonly t5: boolean;
  readonly residency: 'all' | 'sequential';
  readonly adapter: { readonly vendor: string; readonly architecture: string; readonly description: string; readonly isFallbackAdapter: boolean };
  readonly features: readonly string[];
  /** The defaults `generate` uses (from the model's manifest). */
  readonly defaults: ResolvedDefaults;
  /** Largest image side the model's position table allows, in pixels. */
  readonly maxSize: number;
}

export interface ResolvedDefaults {
  readonly width: number;
  readonly height: number;
  readonly numInferenceSteps: number;
  readonly guidanceScale: number;
  readonly shift: number;
}

export interface Pipeline extends Disposable {
  readonly info: PipelineInfo;
  generate(options: GenerateOptions): Promise<GenerateResult>;
  dispose(): void;
}

/** How a platform reaches files, shards and the GPU (the browser and Node each give one). */
export interface PipelineHost {
  /** Undefined: WebGPUUnavailableError when the pipeline asks for an adapter. */
  readonly gpu: GPU | undefined;
  /** Text of a file or URL (catalogues, manifests, tokenizers). */
  readText(url: string, signal?: AbortSignal): Promise<string>;
  /** Shard bytes without HTTP (Node reads files); absent: `fetch`. */
  readonly readShard?: (url: string, signal?: AbortSignal) => Promise<Uint8Array>;
  /** The shard cache when `cache` is on (null: none). */
  openCache(): ShardCache | null;
  /** The catalogue used when `catalogue` is not given. */
  defaultCatalogue(): CatalogueRef;
  /** Frees what the host holds (Dawn), after the pipeline's device is gone. */
  release?(): void;
}

export type { ComponentName };
