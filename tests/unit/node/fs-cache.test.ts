import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { openDirectoryCache } from '../../../src/node/fs-cache.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { cacheUsage, deleteModel, isQuotaError, listCachedModels, type ModelRecord } from '../../../src/weights/cache.js';
import { convert } from '../../../src/weights/convert.js';
import { loadShards, type LoadEvent, type VerifiedShard } from '../../../src/weights/loader.js';
import { parseManifest, type ModelManifest } from '../../../src/weights/manifest.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, randomFloats } from '../weights/helpers.js';
import { ShardServer } from '../weights/shard-server.js';
import { tempDir } from './fixtures.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

let root = '';
let dirCount = 0;
const freshDir = (): string => path.join(root, `cache-${dirCount++}`);
beforeAll(async () => {
  root = await tempDir('fs-cache');
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('directory shard cache', () => {
  it('stores shards by SHA-256, reads them back, lists and deletes them', async () => {
    const dir = freshDir();
    const cache = openDirectoryCache(dir);
    const a = bytes(1000, 1);
    const b = bytes(3000, 2);
    await cache.put(sha(a), a);
    await cache.put(sha(b), b.subarray(0, 3000));
    expect(await cache.get(sha(a))).toEqual(a);
    expect(await cache.get(sha(b))).toEqual(b);
    expect(await cache.get(sha(bytes(1, 9)))).toBeUndefined();
    expect((await cache.list()).sort()).toEqual([sha(a), sha(b)].sort());
    await cache.delete([sha(a), sha(bytes(1, 9))]);
    expect(await cache.list()).toEqual([sha(b)]);
    expect(await readdir(path.join(dir, 'shards'))).toEqual([`${sha(b)}.bin`]);
  });

  it('rejects keys that are not SHA-256 hex (no path can escape the folder)', async () => {
    const cache = openDirectoryCache(freshDir());
    await expect(cache.put('../../etc/passwd', bytes(4, 0))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.get('ABC')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('keeps model records, with ids containing slashes, until deleted or cleared', async () => {
    const dir = freshDir();
    const cache = openDirectoryCache(dir);
    const record: ModelRecord = { id: 'sd3-medium/int8', model: 'sd3-medium', variant: 'int8', manifestUrl: 'x/manifest.json', shards: [{ sha256: sha(bytes(8, 3)), bytes: 8 }], savedAt: 1 };
    await cache.putModel(record);
    await cache.putModel({ ...record, id: 'other/f16', variant: 'f16' });
    expect((await cache.models()).map((r) => r.id).sort()).toEqual(['other/f16', 'sd3-medium/int8']);
    await cache.deleteModelRecord('other/f16');
    expect(await cache.models()).toEqual([record]);
    await cache.put(record.shards[0]!.sha256, bytes(8, 3));
    await cache.clear();
    expect(await cache.models()).toEqual([]);
    expect(await cache.list()).toEqual([]);
  });

  it('a put over maxBytes is a QuotaExceededError and leaves what is stored intact', async () => {
    const cache = openDirectoryCache(freshDir(), { maxBytes: 2500 });
    const a = bytes(1500, 1);
    await cache.put(sha(a), a);
    const error = await cache.put(sha(bytes(1500, 2)), bytes(1500, 2)).catch((e: unknown) => e);
    expect(isQuotaError(error)).toBe(true);
    expect(await cache.get(sha(a))).toEqual(a);
    expect(await cache.list()).toEqual([sha(a)]);
  });

  it('leaves no temporary files behind', async () => {
    const dir = freshDir();
    const cache = openDirectoryCache(dir);
    for (let i = 0; i < 5; i++) await cache.put(sha(bytes(64, i)), bytes(64, i));
    expect((await readdir(path.join(dir, 'shards'))).filter((f) => !f.endsWith('.bin'))).toEqual([]);
  });
});

describe('directory cache under the loader', () => {
  const SHARD = 4096;
  let server: ShardServer;
  let manifest: ModelManifest;
  beforeAll(async () => {
    server = await new ShardServer().start();
    const source = await openSafetensors(bytesSource(encodeSafetensors([f32Tensor('a.weight', [64, 64], randomFloats(4096, 5))])));
    await convert({ model: 'tiny', quant: 'f32', inputs: { mmdit: source }, shardBytes: SHARD, write: async (file, b) => void server.files.set(file, b.slice()) });
    manifest = parseManifest(JSON.parse(new TextDecoder().decode(server.files.get('manifest.json'))), 'manifest.json');
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.requests.length = 0;
    server.faults.clear();
  });

  const shards = () => manifest.components.mmdit?.shards ?? [];
  const load = (cache: ReturnType<typeof openDirectoryCache>) => {
    const events: LoadEvent[] = [];
    const got: VerifiedShard[] = [];
    const promise = loadShards({ manifest, manifestUrl: `${server.url}manifest.json`, cache, backoffMs: () => 0, throttleMs: 0, onShard: (s) => void got.push(s), onProgress: (e) => events.push(e) });
    return { promise, events, got };
  };

  it('a second load comes from the folder with no request, and the model is listed with its size', async () => {
    const dir = freshDir();
    const cache = openDirectoryCache(dir);
    await load(cache).promise;
    expect(server.requests.length).toBe(shards().length);
    server.requests.length = 0;
    const warm = load(cache);
    const result = await warm.promise;
    expect(server.requests).toEqual([]);
    expect(warm.got.every((s) => s.fromCache)).toBe(true);
    expect(result.fromCacheBytes).toBe(result.bytes);
    const [model] = await listCachedModels(cache);
    expect(model).toMatchObject({ id: 'tiny/f32', bytes: result.bytes, cachedBytes: result.bytes, complete: true });
    expect((await cacheUsage(cache)).shardBytes).toBe(result.bytes);
    expect(await deleteModel('tiny/f32', cache)).toBe(result.bytes);
    expect(await cache.list()).toEqual([]);
  });

  it('a corrupt shard file is evicted, fetched again and rewritten', async () => {
    const dir = freshDir();
    const cache = openDirectoryCache(dir);
    await load(cache).promise;
    const victim = shards()[1]!;
    const file = path.join(dir, 'shards', `${victim.sha256}.bin`);
    const corrupt = await readFile(file);
    corrupt[10] = (corrupt[10] ?? 0) ^ 0xff;
    await writeFile(file, corrupt);
    server.requests.length = 0;
    const again = load(cache);
    await again.promise;
    expect(server.requests).toEqual([victim.file]);
    expect(again.events.some((e) => e.phase === 'warning' && e.code === 'cache-corrupt' && e.shard === 1)).toBe(true);
    expect(sha(await readFile(file))).toBe(victim.sha256);
  });

  it('over its budget the load carries on from the network with a warning, keeping what is cached', async () => {
    const cache = openDirectoryCache(freshDir(), { maxBytes: SHARD + SHARD / 2 });
    const run = load(cache);
    const result = await run.promise;
    expect(run.got.length).toBe(shards().length);
    expect(result.cached).toBe(false);
    expect(run.events.some((e) => e.phase === 'warning' && e.code === 'cache-quota')).toBe(true);
    expect((await cache.list()).length).toBe(1);
  });
});
