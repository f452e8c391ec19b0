import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileFormatError } from '../errors.js';
import { type MemoryPlan, type PlanMemoryOptions, planMemoryFor } from '../pipeline/memory.js';
import { resolveModel } from '../pipeline/model.js';
import { createPipelineOn } from '../pipeline/pipeline.js';
import type { Pipeline, PipelineHost, PipelineOptions } from '../pipeline/types.js';
import { createNodeGpu } from './dawn.js';
import { openDirectoryCache } from './fs-cache.js';
import { MANIFEST_FILE } from './weights-source.js';

export interface NodePipelineOptions extends PipelineOptions {
  /** A folder for downloaded shards (kept across runs, keyed by SHA-256); default: none. */
  readonly cacheDir?: string;
}

const CATALOGUE_FILE = 'weights-manifest.json';

/** The package's catalogue: the nearest weights-manifest.json above this module (source or dist). */
export function packageCatalogue(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, CATALOGUE_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return resolve(CATALOGUE_FILE);
}

const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

async function readLocal(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path.startsWith('file:') ? fileURLToPath(path) : path));
  } catch (cause) {
    throw new FileFormatError(path, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`);
  }
}

async function readUrl(url: string, signal?: AbortSignal): Promise<Uint8Array> {
  const response = await fetch(url, signal ? { signal } : {});
  if (!response.ok) throw new FileFormatError(url, `HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** A model given as a local folder means the manifest inside it. */
function localModel(model: PipelineOptions['model']): PipelineOptions['model'] {
  if (typeof model !== 'string' || isUrl(model) || !existsSync(model)) return model;
  return statSync(model).isDirectory() ? join(model, MANIFEST_FILE) : model;
}

/**
 * `createPipeline` for Node: Dawn's WebGPU (SwiftShader where there is no GPU), files by path or
 * URL, and an optional directory cache for downloaded shards. `model` may also be a local model
 * folder or manifest path.
 */
export async function createPipeline(o: NodePipelineOptions = {}): Promise<Pipeline> {
  const node = o.gpu ? null : createNodeGpu();
  const host = nodeHost(o, o.gpu ?? (node as NonNullable<typeof node>).gpu, () => node?.dispose());
  const model = localModel(o.model);
  try {
    return await createPipelineOn(host, model === undefined ? o : { ...o, model });
  } catch (error) {
    node?.dispose();
    throw error;
  }
}

/** planMemory in Node: `model` may be a path; only the manifest is read, no GPU is used. */
export async function planMemory(model?: NodePipelineOptions['model'], o: PlanMemoryOptions & Pick<NodePipelineOptions, 'catalogue' | 'manifestUrl' | 'variant'> = {}): Promise<MemoryPlan> {
  const local = localModel(model);
  const refs = { ...o, ...(local !== undefined ? { model: local } : {}) };
  return planMemoryFor(await resolveModel(nodeHost(refs, undefined, () => undefined), refs), o);
}

function nodeHost(o: NodePipelineOptions, gpu: GPU | undefined, release: () => void): PipelineHost {
  return {
    gpu,
    readText: async (url, signal) => new TextDecoder().decode(isUrl(url) ? await readUrl(url, signal) : await readLocal(url)),
    readShard: (url, signal) => (isUrl(url) ? readUrl(url, signal) : readLocal(url)),
    openCache: () => (o.cacheDir ? openDirectoryCache(o.cacheDir) : null),
    defaultCatalogue: packageCatalogue,
    release,
  };
}
