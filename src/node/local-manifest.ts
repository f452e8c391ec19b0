import { createReadStream } from 'node:fs';
import type { ManifestBackedSource, ManifestComponent, ManifestWeights } from '../runtime/weights.js';
import type { ShardReader } from '../weights/loader.js';
import type { ComponentName, ModelManifest } from '../weights/manifest.js';
import { resolveRelative } from '../weights/manifest.js';
import { manifestSource } from '../weights/manifest-source.js';
import { fileSource } from './file-source.js';

/**
 * A converted model in a local folder, read through the one weights path: each shard file is
 * streamed in 1 MiB pieces that the loader hashes as they come, and only a shard whose SHA-256
 * matches the manifest reaches the GPU — as for HTTP and the caches.
 */

/** Streams a shard file (the path the manifest's relative name resolves to). */
export const fileShardReader: ShardReader = async (path, _entry, signal) =>
  createReadStream(path, { highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) }) as AsyncIterable<Uint8Array>;

/** The whole model at `manifestPath` (already parsed), for `loadModelWeights`. */
export function localManifest(manifestPath: string, manifest: ModelManifest, o: Partial<Omit<ManifestWeights, 'manifest' | 'manifestUrl'>> = {}): ManifestWeights {
  return { cache: null, readShard: fileShardReader, ...o, manifest, manifestUrl: manifestPath };
}

/**
 * One component of a local converted model as a TensorSource (its tensors readable by range for
 * tools that read them, such as `convert`) that every component loader streams through the
 * verified shard path instead.
 */
export function localManifestComponent(manifestPath: string, manifest: ModelManifest, component: ComponentName): ManifestBackedSource {
  const origin: ManifestComponent = { ...localManifest(manifestPath, manifest), component };
  const source = manifestSource(manifest, component, (shard) => fileSource(resolveRelative(manifestPath, shard.file)), manifestPath);
  return Object.assign(source, { manifestOrigin: origin });
}
