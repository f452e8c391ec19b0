import { FileFormatError } from '../errors.js';
import { openShardCache } from '../weights/cache.js';
import { type MemoryPlan, type PlanMemoryOptions, planMemoryFor } from './memory.js';
import { resolveModel } from './model.js';
import { createPipelineOn } from './pipeline.js';
import type { Pipeline, PipelineHost, PipelineOptions } from './types.js';

export { createPipelineOn } from './pipeline.js';
export type * from './types.js';
export type { Progress, ProgressPhase } from './progress.js';
export { formatParameters, parseParameters, type ParameterRecord } from './parameters.js';
export { encodePng, encodePngAsync, readPngText, storedZlib, type ZlibDeflate } from './png.js';
export { toImageData, toPngBlob, drawToCanvas } from './image.js';
export { SD3_DEFAULTS } from './model.js';
export { planMemoryFor, type MemoryPlan, type PhasePlan, type PlanMemoryOptions } from './memory.js';
export { MAX_IMAGES_PER_PROMPT, MAX_SEQUENCE_LENGTH, SIZE_STEP } from './validate.js';

/** The catalogue a page uses by default: `weights-manifest.json` beside the page. */
function pageCatalogue(): string {
  const base = typeof document !== 'undefined' ? document.baseURI : (globalThis.location?.href ?? 'http://localhost/');
  return new URL('weights-manifest.json', base).href;
}

/** Absolute URL of a reference, against the page (workers: their script's location). */
function absolute(url: string): string {
  const base = typeof document !== 'undefined' ? document.baseURI : globalThis.location?.href;
  return base ? new URL(url, base).href : url;
}

/**
 * Text-to-image on WebGPU in a page or a worker: `navigator.gpu`, weights over HTTP with the
 * IndexedDB shard cache (SHA-256 checked, resumed after drops), progress and cancel throughout.
 */
export async function createPipeline(o: PipelineOptions = {}): Promise<Pipeline> {
  return createPipelineOn(pageHost(o), absoluteRefs(o));
}

/**
 * Peak GPU bytes per phase and the largest binding for a generation, from the model's manifest
 * alone (no weights are downloaded, no GPU is needed).
 */
export async function planMemory(model?: PipelineOptions['model'], o: PlanMemoryOptions & Pick<PipelineOptions, 'catalogue' | 'manifestUrl' | 'variant'> = {}): Promise<MemoryPlan> {
  const refs = absoluteRefs({ ...o, ...(model !== undefined ? { model } : {}) });
  return planMemoryFor(await resolveModel(pageHost(refs), refs), o);
}

function pageHost(o: PipelineOptions): PipelineHost {
  return {
    gpu: o.gpu ?? (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu,
    readText: async (url, signal) => {
      const response = await fetch(absolute(url), signal ? { signal } : {});
      if (!response.ok) throw new FileFormatError(url, `HTTP ${response.status} ${response.statusText}`);
      return response.text();
    },
    openCache: () => openShardCache(),
    defaultCatalogue: pageCatalogue,
  };
}

/** Relative model, manifest and catalogue URLs made absolute against the page. */
function absoluteRefs(o: PipelineOptions): PipelineOptions {
  const model = typeof o.model === 'string' && /[/\\]|\.json$/.test(o.model) ? absolute(o.model) : o.model;
  const manifestUrl = o.manifestUrl === undefined ? undefined : absolute(o.manifestUrl);
  const catalogue = typeof o.catalogue === 'string' || o.catalogue instanceof URL ? absolute(String(o.catalogue)) : o.catalogue;
  return {
    ...o,
    ...(model !== undefined ? { model } : {}),
    ...(manifestUrl !== undefined ? { manifestUrl } : {}),
    ...(catalogue !== undefined ? { catalogue } : {}),
  };
}
