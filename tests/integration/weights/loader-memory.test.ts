import 'fake-indexeddb/auto';
import { createHash, randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearCache, openShardCache } from '../../../src/weights/cache.js';
import { loadShards } from '../../../src/weights/loader.js';
import { parseManifest, type ModelManifest } from '../../../src/weights/manifest.js';
import { ShardServer } from '../../unit/weights/shard-server.js';

/**
 * The loader's memory stays a small multiple of one shard while a model of a few hundred MB
 * streams in from a local HTTP server, and a warm load from the cache needs no network. Figures
 * are printed for the measurements; live bytes are sampled after a forced GC in the
 * consumer, i.e. what the loader retains, not garbage awaiting collection.
 */
const SHARD = 8 * 1024 * 1024;
const SHARDS = 24;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Live bytes after a GC; the pause lets V8 release freed ArrayBuffer stores (done concurrently). */
const live = async (): Promise<number> => {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

let server: ShardServer;
let manifest: ModelManifest;

beforeAll(async () => {
  server = await new ShardServer().start();
  const shards = [];
  for (let i = 0; i < SHARDS; i++) {
    const file = `mmdit-${String(i).padStart(5, '0')}.bin`;
    const bytes = new Uint8Array(randomBytes(SHARD));
    server.files.set(file, bytes);
    shards.push({ file, bytes: SHARD, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  manifest = parseManifest(
    { format: 'mmdit-webgpu.weights/1', model: 'big', variant: 'f16', components: { mmdit: { config: {}, shards, tensors: {} } } },
    'big/manifest.json',
  );
  await clearCache();
});
afterAll(() => server.stop());

describe('loader memory and cache timing', () => {
  it(`keeps live memory within a few shards while loading ${(SHARD * SHARDS) / 2 ** 20} MiB over HTTP`, async () => {
    const baseline = await live();
    let peak = 0;
    const start = performance.now();
    await loadShards({
      manifest,
      manifestUrl: server.url + 'manifest.json',
      cache: null,
      onShard: async () => {
        peak = Math.max(peak, (await live()) - baseline);
      },
    });
    const ms = performance.now() - start;
    console.log(
      `loader: ${SHARDS} × ${SHARD / 2 ** 20} MiB over loopback HTTP in ${ms.toFixed(0)} ms (with a forced GC per shard); ` +
        `peak live JS memory above baseline ${(peak / 2 ** 20).toFixed(1)} MiB = ${(peak / SHARD).toFixed(2)} shards`,
    );
    // Two shards in flight plus one a slow consumer still holds (concurrency + 1), with slack for
    // heap noise: measured 3.0–3.3 shards.
    expect(peak).toBeLessThanOrEqual(5 * SHARD);
  });

  it('loads warm from the cache with no network and reports the time against reading the bytes', async () => {
    const cache = openShardCache();
    await loadShards({ manifest, manifestUrl: server.url + 'manifest.json', cache, onShard: () => undefined });
    server.requests.length = 0;
    const warmStart = performance.now();
    const result = await loadShards({ manifest, manifestUrl: server.url + 'manifest.json', cache, onShard: () => undefined });
    const warm = performance.now() - warmStart;
    const readStart = performance.now();
    let sum = 0;
    for (const s of manifest.components.mmdit?.shards ?? []) sum += (await cache?.get(s.sha256))?.byteLength ?? 0;
    const read = performance.now() - readStart;
    console.log(
      `warm load (fake-indexeddb, in-memory): ${warm.toFixed(0)} ms including SHA-256 of every shard; ` +
        `reading the same ${(sum / 2 ** 20).toFixed(0)} MiB from the cache alone: ${read.toFixed(0)} ms`,
    );
    expect(server.requests).toEqual([]);
    expect(result.fromCacheBytes).toBe(SHARD * SHARDS);
  });
});
