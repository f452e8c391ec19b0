import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/weights/byte-source.js';
import {
  cacheUsage,
  clearCache,
  deleteModel,
  isQuotaError,
  listCachedModels,
  openShardCache,
  requestPersistence,
  type ShardCache,
} from '../../../src/weights/cache.js';
import { convert } from '../../../src/weights/convert.js';
import { loadShards, type LoadEvent, type VerifiedShard } from '../../../src/weights/loader.js';
import { parseManifest, type ModelManifest } from '../../../src/weights/manifest.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, randomFloats } from './helpers.js';
import { ShardServer } from './shard-server.js';

let server: ShardServer;
let model: ModelManifest;
let other: ModelManifest;

async function build(name: string, seeds: number[]): Promise<ModelManifest> {
  const files = new Map<string, Uint8Array>();
  const tensors = seeds.map((seed, i) => f32Tensor(`t${i}.weight`, [16, 64], randomFloats(1024, seed)));
  await convert({
    model: name,
    quant: 'f32',
    inputs: { mmdit: await openSafetensors(bytesSource(encodeSafetensors(tensors))) },
    shardBytes: 4096,
    write: async (file, bytes) => void files.set(`${name}/${file}`, bytes.slice()),
  });
  for (const [f, b] of files) server.files.set(f, b);
  return parseManifest(JSON.parse(new TextDecoder().decode(files.get(`${name}/manifest.json`))), 'manifest.json');
}

beforeAll(async () => {
  server = await new ShardServer().start();
  model = await build('one', [1, 2, 3]);
  // Same first tensor and shard contents as "one" → shared shards; then different ones.
  other = await build('two', [1, 9]);
});
afterAll(() => server.stop());
beforeEach(async () => {
  server.faults.clear();
  server.requests.length = 0;
  await clearCache();
});

function load(manifest: ModelManifest, cache?: ShardCache | null) {
  const events: LoadEvent[] = [];
  const shards: VerifiedShard[] = [];
  const promise = loadShards({
    manifest,
    manifestUrl: `${server.url}${manifest.model}/manifest.json`,
    ...(cache !== undefined ? { cache } : {}),
    backoffMs: () => 0,
    throttleMs: 0,
    onShard: (s) => void shards.push(s),
    onProgress: (e) => events.push(e),
  });
  return { promise, events, shards };
}

const shardCount = (m: ModelManifest) => m.components.mmdit?.shards.length ?? 0;
const totalBytes = (m: ModelManifest) => m.components.mmdit?.shards.reduce((a, s) => a + s.bytes, 0) ?? 0;

describe('IndexedDB shard cache', () => {
  it('serves a second load entirely from the cache, verified, without network', async () => {
    await load(model).promise;
    const before = server.requests.length;
    expect(before).toBe(shardCount(model));
    const { promise, events, shards } = load(model);
    const result = await promise;
    expect(server.requests.length).toBe(before);
    expect(result.fromCacheBytes).toBe(totalBytes(model));
    expect(shards.every((s) => s.fromCache)).toBe(true);
    for (const s of shards) expect(s.bytes).toEqual(server.files.get(`one/${s.entry.file}`));
    expect(events.filter((e) => e.phase === 'download').every((e) => e.phase === 'download' && e.fromCache)).toBe(true);
  });

  it('evicts a corrupt cached shard, fetches it again and keeps the rest', async () => {
    await load(model).promise;
    const cache = openShardCache();
    const victim = model.components.mmdit?.shards[1];
    if (!cache || !victim) throw new Error('setup');
    await cache.put(victim.sha256, new Uint8Array(victim.bytes).fill(7));
    server.requests.length = 0;
    const { promise, events, shards } = load(model);
    await promise;
    expect(server.requests).toEqual([`one/${victim.file}`]);
    expect(events.some((e) => e.phase === 'warning' && e.code === 'cache-corrupt' && e.shard === 1)).toBe(true);
    expect(shards.find((s) => s.index === 1)?.bytes).toEqual(server.files.get(`one/${victim.file}`));
    expect(await cache.get(victim.sha256)).toEqual(server.files.get(`one/${victim.file}`));
    expect((await cache.list()).length).toBe(shardCount(model));
  });

  it('on QuotaExceededError warns, finishes from the network and keeps what is cached', async () => {
    const real = openShardCache();
    if (!real) throw new Error('no IndexedDB');
    const first = model.components.mmdit?.shards[0];
    if (!first) throw new Error('setup');
    await real.put(first.sha256, server.files.get(`one/${first.file}`) ?? new Uint8Array(0));
    const full: ShardCache = {
      ...real,
      put: () => Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError')),
    };
    const { promise, events, shards } = load(model, full);
    const result = await promise;
    expect(shards.length).toBe(shardCount(model));
    expect(result.cached).toBe(false);
    expect(result.fromCacheBytes).toBe(first.bytes);
    expect(events.filter((e) => e.phase === 'warning' && e.code === 'cache-quota').length).toBe(1);
    expect(await real.list()).toEqual([first.sha256]);
    const listed = await listCachedModels();
    expect(listed[0]).toMatchObject({ id: 'one/f32', complete: false, cachedBytes: first.bytes });
  });

  it('warns and continues when there is no IndexedDB cache', async () => {
    const saved = globalThis.indexedDB;
    Reflect.deleteProperty(globalThis, 'indexedDB');
    try {
      const { promise, events } = load(model);
      await promise;
      expect(events.some((e) => e.phase === 'warning' && e.code === 'cache-unavailable')).toBe(true);
      expect(openShardCache()).toBeNull();
      expect(await listCachedModels()).toEqual([]);
    } finally {
      globalThis.indexedDB = saved;
    }
  });

  it('lists cached models with their sizes', async () => {
    await load(model).promise;
    await load(other).promise;
    const listed = await listCachedModels();
    expect(listed.map((m) => m.id).sort()).toEqual(['one/f32', 'two/f32']);
    const one = listed.find((m) => m.id === 'one/f32');
    expect(one).toMatchObject({ model: 'one', variant: 'f32', bytes: totalBytes(model), cachedBytes: totalBytes(model), complete: true });
    expect(one?.manifestUrl).toBe(`${server.url}one/manifest.json`);
  });

  it('shares identical shards between models and deletes only unshared ones', async () => {
    await load(model).promise;
    await load(other).promise;
    const shared = model.components.mmdit?.shards[0]?.sha256;
    expect(shared).toBe(other.components.mmdit?.shards[0]?.sha256);
    const before = await cacheUsage();
    expect(before.shards).toBe(shardCount(model) + shardCount(other) - 1);
    const freed = await deleteModel('one/f32');
    expect(freed).toBe(totalBytes(model) - (model.components.mmdit?.shards[0]?.bytes ?? 0));
    const cache = openShardCache();
    expect(await cache?.list()).toContain(shared);
    expect((await listCachedModels()).map((m) => m.id)).toEqual(['two/f32']);
    server.requests.length = 0;
    await load(other).promise;
    expect(server.requests).toEqual([]);
  });

  it('reports usage in shard bytes', async () => {
    await load(model).promise;
    const usage = await cacheUsage();
    expect(usage.shardBytes).toBe(totalBytes(model));
    expect(usage.shards).toBe(shardCount(model));
  });

  it('requestPersistence answers false where the Storage API is missing', async () => {
    expect(await requestPersistence()).toBe(false);
  });

  it('recognises quota errors by name', () => {
    expect(isQuotaError(new DOMException('x', 'QuotaExceededError'))).toBe(true);
    expect(isQuotaError(new Error('x'))).toBe(false);
  });
});
