import { InvalidArgumentError, LimitExceededError } from '../errors.js';
import type { DeviceCaps } from '../gpu/features.js';
import { MAX_STEPS } from '../models/mmdit/shape.js';
import type { RgbaImage } from '../tensor/image.js';
import { contextRows, type ModelFacts } from './model.js';
import type { BusyPolicy, GenerateOptions, PipelineOptions } from './types.js';

/**
 * Every option of `generate`, checked before any download or GPU work, with the model's defaults
 * filled in. Each failure is an InvalidArgumentError naming the parameter and the allowed range,
 * or a LimitExceededError naming the device limit and what to lower.
 */

export const MAX_IMAGES_PER_PROMPT = 4;
export const MAX_SEQUENCE_LENGTH = 512;
/** Pixel sizes are multiples of this (VAE 8× times the patch 2 in SD3). */
export const SIZE_STEP = 16;
const U32_MAX = 0xffffffff;

export interface GenerateRequest {
  readonly prompt: string;
  readonly prompt2: string;
  readonly prompt3: string;
  readonly negativePrompt: string;
  readonly width: number;
  readonly height: number;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly shift: number;
  readonly seed: number;
  readonly images: number;
  readonly maxSequenceLength?: number;
  readonly image?: RgbaImage;
  readonly strength?: number;
  readonly previews: boolean;
}

function optionalString(name: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(name, 'a string', v);
  return v;
}

function integerIn(name: string, v: number, lo: number, hi: number, what = `an integer in ${lo}…${hi}`): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new InvalidArgumentError(name, what, v);
  return v;
}

/**
 * The checks of `generate` that need no model: sizes on the 16-pixel grid, steps, guidance, shift,
 * images per prompt and seed, for the options that are given. The CLI runs them before it creates
 * a pipeline, so that a bad flag costs no download; resolveGenerate applies the same rules, plus
 * the model's position table and the device's limits, to the options with defaults filled in.
 */
export function checkModelIndependent(g: Partial<Pick<GenerateOptions, 'width' | 'height' | 'numInferenceSteps' | 'guidanceScale' | 'shift' | 'numImagesPerPrompt' | 'seed'>>): void {
  if (g.width !== undefined) checkSize('width', g.width);
  if (g.height !== undefined) checkSize('height', g.height);
  if (g.numInferenceSteps !== undefined) integerIn('numInferenceSteps', g.numInferenceSteps, 1, MAX_STEPS);
  if (g.guidanceScale !== undefined) checkGuidance(g.guidanceScale);
  if (g.shift !== undefined) checkShift(g.shift);
  const images = g.numImagesPerPrompt === undefined ? 1 : integerIn('numImagesPerPrompt', g.numImagesPerPrompt, 1, MAX_IMAGES_PER_PROMPT);
  if (g.seed !== undefined) checkSeed(g.seed, images);
}

/** A pixel size on the 16-pixel grid, at most `maxSize` (the model's position table) where it is known. */
function checkSize(name: 'width' | 'height', v: unknown, maxSize = Infinity): number {
  const allowed = Number.isFinite(maxSize)
    ? `a multiple of ${SIZE_STEP} in ${SIZE_STEP}…${maxSize} (the model's position table)`
    : `a multiple of ${SIZE_STEP}, at least ${SIZE_STEP} (the model's position table sets the largest)`;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < SIZE_STEP || v % SIZE_STEP !== 0 || v > maxSize) throw new InvalidArgumentError(name, allowed, v);
  return v;
}

function checkGuidance(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError('guidanceScale', 'a finite number ≥ 0 (1 turns classifier-free guidance off)', v);
  return v;
}

function checkShift(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError('shift', 'a finite number > 0', v);
  return v;
}

function checkSeed(v: number, images: number): number {
  return integerIn('seed', v, 0, U32_MAX - (images - 1), `an integer in 0…${U32_MAX - (images - 1)} (image i uses seed + i)`);
}

/**
 * The largest single binding a forward needs, estimated from the widest activation (the MLP's
 * hidden rows of the joint sequence, or its q/k/v); planMemory gives the planner's exact figure.
 */
export function denoiserBindingEstimate(f: ModelFacts, width: number, height: number, images: number, cfg: boolean, contextRows: number, bytesPerValue: number): number {
  const c = f.mmdit;
  const tokens = (height / f.vaeScale / c.patch) * (width / f.vaeScale / c.patch);
  const batch = (cfg ? 2 : 1) * images;
  // The per-step timestep-feature table is bound whole: MAX_STEPS rows of batch × frequencyDim.
  const timesteps = MAX_STEPS * batch * c.frequencyDim * bytesPerValue;
  return Math.max(batch * Math.max(tokens, contextRows) * Math.max(c.mlpHidden, 3 * c.hidden) * bytesPerValue, timesteps);
}

/**
 * Context rows the forward runs, at most: with T5, CLIP's 77 and T5's tokens, padded to at least
 * `t5Rows` (or to `maxSequenceLength`); without it, contextRows' collapsed zero rows.
 */
function denoiserContextRows(f: ModelFacts, useT5: boolean, maxSequenceLength: number | undefined): number {
  return useT5 ? 77 + Math.max(f.t5Rows, maxSequenceLength ?? 0) : contextRows(null, f.t5Rows).shape.contextLength;
}

export function resolveGenerate(g: GenerateOptions, f: ModelFacts, caps: DeviceCaps, useT5: boolean, precision: 'f32' | 'f16'): GenerateRequest {
  if (typeof g !== 'object' || g === null) throw new InvalidArgumentError('generate options', 'an object with at least a prompt', g);
  if (typeof g.prompt !== 'string') throw new InvalidArgumentError('prompt', 'a string (empty is the unconditional prompt)', g.prompt);
  const prompt2 = optionalString('prompt2', g.prompt2) ?? g.prompt;
  const prompt3 = optionalString('prompt3', g.prompt3) ?? g.prompt;
  const negativePrompt = optionalString('negativePrompt', g.negativePrompt) ?? '';
  const d = f.defaults;
  const width = checkSize('width', g.width ?? d.width, f.maxSize);
  const height = checkSize('height', g.height ?? d.height, f.maxSize);
  const steps = integerIn('numInferenceSteps', g.numInferenceSteps ?? d.numInferenceSteps, 1, MAX_STEPS);
  const guidanceScale = checkGuidance(g.guidanceScale ?? d.guidanceScale);
  const shift = checkShift(g.shift ?? d.shift);
  const images = integerIn('numImagesPerPrompt', g.numImagesPerPrompt ?? 1, 1, MAX_IMAGES_PER_PROMPT);
  const seed = checkSeed(g.seed ?? 0, images);
  let maxSequenceLength: number | undefined;
  if (g.maxSequenceLength !== undefined) maxSequenceLength = integerIn('maxSequenceLength', g.maxSequenceLength, 1, MAX_SEQUENCE_LENGTH);
  let strength: number | undefined;
  if (g.strength !== undefined || g.image !== undefined) {
    if (g.image === undefined) throw new InvalidArgumentError('image', 'an RGBA8 image when strength is given', undefined);
    strength = g.strength ?? 0.6;
    if (typeof strength !== 'number' || !(strength > 0 && strength <= 1)) throw new InvalidArgumentError('strength', 'a number in (0, 1]', strength);
    const img = g.image;
    const ok = typeof img === 'object' && img !== null && img.width === width && img.height === height && img.data?.length === width * height * 4;
    if (!ok) {
      const got = typeof img === 'object' && img !== null ? `${img.width}×${img.height} (${img.data?.length} bytes)` : img;
      throw new InvalidArgumentError('image', `a ${width}×${height} RGBA8 image (width × height × 4 bytes), the size being generated`, got);
    }
  }
  if (g.previews !== undefined && typeof g.previews !== 'boolean') throw new InvalidArgumentError('previews', 'true or false', g.previews);
  const cfg = guidanceScale !== 1;
  const bytes = denoiserBindingEstimate(f, width, height, images, cfg, denoiserContextRows(f, useT5, maxSequenceLength), precision === 'f16' ? 2 : 4);
  if (bytes > caps.maxStorageBufferBindingSize) {
    throw new LimitExceededError(
      'maxStorageBufferBindingSize',
      bytes,
      caps.maxStorageBufferBindingSize,
      `for ${width}×${height} with ${images} image(s): lower width/height or numImagesPerPrompt, or use precision f16`,
    );
  }
  return {
    prompt: g.prompt, prompt2, prompt3, negativePrompt, width, height, steps, guidanceScale, shift, seed, images,
    ...(maxSequenceLength !== undefined ? { maxSequenceLength } : {}),
    ...(g.image !== undefined ? { image: g.image, strength: strength as number } : {}),
    previews: g.previews === true,
  };
}

const BUSY: readonly BusyPolicy[] = ['queue', 'reject', 'abort-and-queue'];

/** Checks the options that need no model and no GPU. */
export function checkPipelineOptions(o: PipelineOptions): void {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('pipeline options', 'an object', o);
  if (o.precision !== undefined && o.precision !== 'f32' && o.precision !== 'f16') throw new InvalidArgumentError('precision', '"f32" or "f16"', o.precision);
  if (o.residency !== undefined && o.residency !== 'all' && o.residency !== 'sequential') throw new InvalidArgumentError('residency', '"all" or "sequential"', o.residency);
  if (o.busyPolicy !== undefined && !BUSY.includes(o.busyPolicy)) throw new InvalidArgumentError('busyPolicy', BUSY.map((b) => `"${b}"`).join(', '), o.busyPolicy);
  if (o.textEncoders !== undefined && (typeof o.textEncoders !== 'object' || o.textEncoders === null)) throw new InvalidArgumentError('textEncoders', 'an object such as { t5: false }', o.textEncoders);
  const t5 = o.textEncoders?.t5;
  if (t5 !== undefined && typeof t5 !== 'boolean') throw new InvalidArgumentError('textEncoders.t5', 'true or false', t5);
  if (o.cache !== undefined && typeof o.cache !== 'boolean') throw new InvalidArgumentError('cache', 'true or false', o.cache);
}
