/**
 * Where the evaluation's pictures come from: our engine (in-process `createPipeline`, one call per
 * slot with numImagesPerPrompt 4), a folder of PNGs written by `npm run generate -- --prompts …
 * --out-dir …`, or ground-truth renders of scenes drawn for each prompt (to test the scoring end to end
 * without a model).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageBytes } from '../world/detector.js';
import { EvalSourceError } from '../world/errors.js';
import type { EvalImage, EvalSlot } from '../world/eval-set.js';
import { decodePng } from '../world/png.js';
import { Rng } from '../world/random.js';
import { renderScene } from '../world/render.js';
import { sampleScene } from '../world/scene.js';
import { CANVAS } from '../world/world.js';

export interface ImageSource {
  /** What made the pictures, for the report (model, steps, guidance, shift). */
  readonly description: string;
  /** The images of one slot, in seed order (image i has seed slot.seed + i). */
  images(slot: EvalSlot, images: readonly EvalImage[]): Promise<ImageBytes[]>;
  dispose(): void;
}

export interface EngineOptions {
  /** Catalogue id, manifest path or model folder (default: the catalogue's default model). */
  model?: string;
  guidanceScale?: number;
  shift?: number;
  numInferenceSteps?: number;
  cacheDir?: string;
}

/** The slice of the pipeline API the evaluation uses (src/pipeline/types.ts), so that tests can stand in for it. */
interface EnginePipeline {
  readonly info: { readonly model: string; readonly defaults: { width: number; height: number; numInferenceSteps: number; guidanceScale: number; shift: number } };
  generate(o: {
    prompt: string;
    seed: number;
    numImagesPerPrompt: number;
    guidanceScale?: number;
    shift?: number;
    numInferenceSteps?: number;
  }): Promise<{ images: { width: number; height: number; data: Uint8ClampedArray }[]; seeds: number[] }>;
  dispose(): void;
}
export type CreatePipeline = (o: { model?: string; cacheDir?: string }) => Promise<EnginePipeline>;

/** The engine's Node entry point, loaded only when the evaluation generates (not for --gt or --images). */
async function nodeCreatePipeline(): Promise<CreatePipeline> {
  const { createPipeline } = await import('../../src/node/index.js');
  // The real entry point must fit the slice of it used here; the compiler checks that.
  const create: CreatePipeline = createPipeline;
  return create;
}

/** Our engine in this process, on Dawn (SwiftShader where there is no GPU); `create` replaces the entry point in tests. */
export async function engineSource(o: EngineOptions, create?: CreatePipeline): Promise<ImageSource> {
  const pipeline = await (create ?? (await nodeCreatePipeline()))({ ...(o.model !== undefined ? { model: o.model } : {}), ...(o.cacheDir !== undefined ? { cacheDir: o.cacheDir } : {}) });
  const d = pipeline.info.defaults;
  const steps = o.numInferenceSteps ?? d.numInferenceSteps;
  const guidance = o.guidanceScale ?? d.guidanceScale;
  const shift = o.shift ?? d.shift;
  return {
    description: `${pipeline.info.model}, ${d.width}×${d.height}, ${steps} steps, guidance ${guidance}, shift ${shift}`,
    async images(slot, images) {
      const result = await pipeline.generate({
        prompt: slot.spec.prompt,
        seed: slot.seed,
        numImagesPerPrompt: images.length,
        numInferenceSteps: steps,
        guidanceScale: guidance,
        shift,
      });
      images.forEach((im, i) => {
        if (result.seeds[i] !== im.seed) throw new EvalSourceError(`image ${im.id}: the pipeline used seed ${result.seeds[i]}, expected ${im.seed}`);
      });
      return result.images;
    },
    dispose: () => pipeline.dispose(),
  };
}

/** PNGs named `<id>.png` in a folder (the batch `generate`'s output for the prompt file). */
export function folderSource(dir: string): ImageSource {
  if (!existsSync(dir)) throw new EvalSourceError(`--images: no folder ${dir}`);
  return {
    description: `PNGs in ${dir}`,
    async images(_slot, images) {
      return images.map((im) => {
        const file = join(dir, `${im.id}.png`);
        if (!existsSync(file)) throw new EvalSourceError(`--images: ${file} is missing (image ${im.id}, seed ${im.seed})`);
        return decodePng(new Uint8Array(readFileSync(file)), file);
      });
    },
    dispose: () => {},
  };
}

/** Exact renders of a scene drawn for each image's prompt, from a generator seeded with its seed. */
export function groundTruthSource(): ImageSource {
  return {
    description: 'ground-truth renders (no model)',
    async images(slot, images) {
      return images.map((im) => ({ data: renderScene(sampleScene(slot.spec, new Rng(im.seed))), width: CANVAS, height: CANVAS }));
    },
    dispose: () => {},
  };
}
