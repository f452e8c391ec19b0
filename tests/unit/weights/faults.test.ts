import 'fake-indexeddb/auto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { clearCache, openShardCache, type ShardCache } from '../../../src/weights/cache.js';
import { convert } from '../../../src/weights/convert.js';
import { loadShards, type LoadEvent, type LoadShardsOptions, type VerifiedShard } from '../../../src/weights/loader.js';
import { parseManifest, type ModelManifest } from '../../../src/weights/manifest.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, randomFloats } from './helpers.js';
import { ShardServer } from './shard-server.js';

/**
 * Injected faults on the download path: a connection dropped mid-shard, and a cache that runs out
 * of quota in the middle of a load. (Corrupt cache entries, on disk and in IndexedDB, are the
 * eviction tests of cache.test.ts and node/fs-cache.test.ts; the device and the converter have
 * their own fault tests under tests/integration.)
 */

let server: ShardServer;
let model: ModelManifest;
let earlier: ModelManifest;

async function build(name: string, seed: number): Promise<ModelManifest> {
  const files = new Map<string, Uint8Array>();
  const tensors = [0, 1, 2].map((i) => f32Tensor(`t${i}.weight`, [16, 64], randomFloats(1024, seed + i)));
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
  model = await build('model', 100);
  earlier = await build('earlier', 200);
});
afterAll(() => server.stop());
beforeEach(async () => {
  server.faults.clear();
  server.requests.length = 0;
  await clearCache();
});

/** fetch that counts the body bytes each URL actually delivered to the loader, over all attempts. */
function countingFetch(received: Map<string, number>): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!response.body) return response;
    const url = String(input);
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          received.set(url, (received.get(url) ?? 0) + chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

function load(manifest: ModelManifest, extra: Partial<LoadShardsOptions> = {}) {
  const events: LoadEvent[] = [];
  const shards: VerifiedShard[] = [];
  const promise = loadShards({
    manifest,
    manifestUrl: `${server.url}${manifest.model}/manifest.json`,
    backoffMs: () => 0,
    throttleMs: 0,
    onShard: (s) => void shards.push(s),
    onProgress: (e) => events.push(e),
    ...extra,
  });
  return { promise, events, shards };
}

const shardsOf = (m: ModelManifest) => m.components.mmdit?.shards ?? [];

describe('fault: the connection drops mid-shard', () => {
  it('resumes with Range requests and no byte is downloaded twice', async () => {
    const victim = shardsOf(model)[1]!;
    const name = `model/${victim.file}`;
    server.faults.set(name, { dropAfter: 0.4, drops: 2 });
    const received = new Map<string, number>();
    const { promise, shards, events } = load(model, { cache: null, fetch: countingFetch(received) });
    await promise;
    const attempts = server.requests.filter((r) => r.startsWith(name));
    expect(attempts.length).toBe(3);
    expect(attempts[0]).toBe(name);
    expect(attempts.slice(1).every((r) => /bytes=\d+-$/.test(r))).toBe(true);
    // The counter: over the three attempts the loader received exactly the shard's bytes.
    for (const s of shardsOf(model)) expect(received.get(`${server.url}model/${s.file}`), s.file).toBe(s.bytes);
    expect(shards.find((s) => s.index === 1)?.bytes).toEqual(server.files.get(name));
    expect(events.filter((e) => e.phase === 'warning' && e.code === 'retry').length).toBe(2);
  });
});

describe('fault: the storage quota runs out in the middle of a load', () => {
  it('the load completes from the network, the existing cache is intact, one warning is emitted', async () => {
    const real = openShardCache();
    if (!real) throw new Error('no IndexedDB');
    await load(earlier, { cache: real }).promise;
    const before = new Map<string, Uint8Array>();
    for (const key of await real.list()) before.set(key, (await real.get(key))!.slice());
    expect(before.size).toBe(shardsOf(earlier).length);
    // The first new shard is stored, then the quota is exhausted.
    let puts = 0;
    const filling: ShardCache = {
      ...real,
      put: (key, bytes) => (puts++ === 0 ? real.put(key, bytes) : Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'))),
    };
    const { promise, events, shards } = load(model, { cache: filling, concurrency: 1 });
    const result = await promise;
    expect(shards.length).toBe(shardsOf(model).length);
    for (const s of shards) expect(s.bytes).toEqual(server.files.get(`model/${s.entry.file}`));
    expect(result.cached).toBe(false);
    expect(events.filter((e) => e.phase === 'warning' && e.code === 'cache-quota').length).toBe(1);
    const after = await real.list();
    expect(after.length).toBe(before.size + 1);
    for (const [key, bytes] of before) expect(await real.get(key), key).toEqual(bytes);
  });
});
