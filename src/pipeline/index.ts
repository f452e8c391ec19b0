import { FileFormatError } from '../errors.js';
import { openShardCache } from '../weights/cache.js';
import { createPipelineOn } from './pipeline.js';
import type { Pipeline, PipelineHost, PipelineOptions } from './types.js';

export { createPipelineOn } from './pipeline.js';
export type * from './types.js';
export type { Progress, ProgressPhase } from './progress.js';
export { formatParameters, parseParameters, type ParameterRecord } from './parameters.js';
export { encodePng, encodePngAsync, readPngText, storedZlib, type ZlibDeflate } from './png.js';
export { toImageData, toPngBlob, drawToCanvas } from './image.js';
export { SD3_DEFAULTS } from './model.js';
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
  const host: PipelineHost = {
    gpu: o.gpu ?? (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu,
    readText: async (url, signal) => {
      const response = await fetch(absolute(url), signal ? { signal } : {});
      if (!response.ok) throw new FileFormatError(url, `HTTP ${response.status} ${response.statusText}`);
      return response.text();
    },
    openCache: () => openShardCache(),
    defaultCatalogue: pageCatalogue,
  };
  const model = typeof o.model === 'string' && /[/\\]|\.json$/.test(o.model) ? absolute(o.model) : o.model;
  const manifestUrl = o.manifestUrl === undefined ? undefined : absolute(o.manifestUrl);
  const catalogue = typeof o.catalogue === 'string' || o.catalogue instanceof URL ? absolute(String(o.catalogue)) : o.catalogue;
  return createPipelineOn(host, {
    ...o,
    ...(model !== undefined ? { model } : {}),
    ...(manifestUrl !== undefined ? { manifestUrl } : {}),
    ...(catalogue !== undefined ? { catalogue } : {}),
  });
}
