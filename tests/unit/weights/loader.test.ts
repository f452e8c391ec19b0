import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileFormatError, ShardIntegrityError } from '../../../src/errors.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { convert } from '../../../src/weights/convert.js';
import { loadShards, type LoadEvent, type LoadShardsOptions, type VerifiedShard } from '../../../src/weights/loader.js';
import { parseManifest, type ModelManifest } from '../../../src/weights/manifest.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, randomFloats } from './helpers.js';
import { ShardServer } from './shard-server.js';

const SHARD = 4096;
let server: ShardServer;
let manifest: ModelManifest;

/** A model of two components, f32, cut into 4 KiB shards (several per component). */
async function buildModel(files: Map<string, Uint8Array>): Promise<ModelManifest> {
  const source = (seed: number) =>
    openSafetensors(
      bytesSource(encodeSafetensors([f32Tensor('a.weight', [32, 64], randomFloats(2048, seed)), f32Tensor('b.bias', [100], randomFloats(100, seed + 1))])),
    );
  const { manifest: m } = await convert({
    model: 'tiny',
    quant: 'f32',
    inputs: { mmdit: await source(1), vae: await source(7) },
    shardBytes: SHARD,
    write: async (file, bytes) => void files.set(file, bytes.slice()),
  });
  return parseManifest(JSON.parse(new TextDecoder().decode(files.get('manifest.json'))), 'manifest.json');
}

beforeAll(async () => {
  server = await new ShardServer().start();
  manifest = await buildModel(server.files);
});
afterAll(() => server.stop());
beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
  server.peakActive = 0;
});

function load(extra: Partial<LoadShardsOptions> = {}) {
  const shards: VerifiedShard[] = [];
  const events: LoadEvent[] = [];
  const promise = loadShards({
    manifest,
    manifestUrl: `${server.url}manifest.json`,
    cache: null,
    backoffMs: () => 0,
    throttleMs: 0,
    onShard: (s) => void shards.push(s),
    onProgress: (e) => events.push(e),
    ...extra,
  });
  return { promise, shards, events };
}

const allShards = () => [...(manifest.components.mmdit?.shards ?? []), ...(manifest.components.vae?.shards ?? [])];

describe('loadShards over HTTP', () => {
  it('delivers every shard verified, with the exact bytes', async () => {
    const { promise, shards } = load();
    const result = await promise;
    expect(shards.length).toBe(allShards().length);
    for (const s of shards) expect(s.bytes).toEqual(server.files.get(s.entry.file));
    expect(result.bytes).toBe(allShards().reduce((a, s) => a + s.bytes, 0));
    expect(result.fromCacheBytes).toBe(0);
  });

  it('keeps at most two shards in flight', async () => {
    await load().promise;
    expect(server.peakActive).toBeLessThanOrEqual(2);
    expect(server.peakActive).toBeGreaterThan(0);
  });

  it('reports per-shard and overall progress ending at the total', async () => {
    const { promise, events } = load();
    const { bytes } = await promise;
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.at(-1)).toMatchObject({ loadedBytes: bytes, totalBytes: bytes, fromCache: false });
    const first = downloads.find((e) => e.component === 'mmdit' && e.shard === 0 && e.shardLoadedBytes === e.shardTotalBytes);
    expect(first).toMatchObject({ file: 'mmdit-00000.bin', shardTotalBytes: SHARD });
    const overall = downloads.map((e) => e.loadedBytes);
    expect(overall).toEqual([...overall].sort((a, b) => a - b));
  });

  it('resumes with a Range request after a dropped connection', async () => {
    server.faults.set('mmdit-00001.bin', { dropAfter: 0.5, drops: 2 });
    const { promise, shards, events } = load();
    await promise;
    expect(shards.find((s) => s.entry.file === 'mmdit-00001.bin')?.bytes).toEqual(server.files.get('mmdit-00001.bin'));
    const ranged = server.requests.filter((r) => r.startsWith('mmdit-00001.bin bytes='));
    expect(ranged.length).toBe(2);
    expect(ranged[0]).toBe(`mmdit-00001.bin bytes=${SHARD / 2}-`);
    expect(events.filter((e) => e.phase === 'warning' && e.code === 'retry').length).toBe(2);
  });

  it('restarts from zero, streamed, with a no-range warning, when the server ignores Range on resume', async () => {
    server.faults.set('vae-00000.bin', { dropAfter: 0.25, drops: 1, noRange: true });
    const { promise, shards, events } = load();
    await promise;
    // The hash restarted with the bytes: the whole-file read verifies.
    expect(shards.find((s) => s.entry.file === 'vae-00000.bin')?.bytes).toEqual(server.files.get('vae-00000.bin'));
    expect(events.filter((e) => e.phase === 'warning' && e.code === 'no-range' && e.shard === 0 && e.component === 'vae').length).toBe(1);
  });

  it('hashes a local reader\'s stream piece by piece and rejects a corrupt piece before handing the shard over', async () => {
    const pieces = (bytes: Uint8Array) => (async function* () {
      for (let at = 0; at < bytes.byteLength; at += 1000) yield bytes.subarray(at, Math.min(bytes.byteLength, at + 1000));
    })();
    const ok = load({ readShard: async (url) => pieces(server.files.get(url.split('/').pop() ?? '') ?? new Uint8Array(0)) });
    await ok.promise;
    expect(ok.shards.length).toBe(allShards().length);
    const bad = load({
      readShard: async (url) => {
        const file = url.split('/').pop() ?? '';
        const bytes = (server.files.get(file) ?? new Uint8Array(0)).slice();
        if (file === 'vae-00000.bin') bytes[5] = (bytes[5] ?? 0) ^ 1;
        return pieces(bytes);
      },
    });
    expect(await bad.promise.catch((e: unknown) => e)).toBeInstanceOf(ShardIntegrityError);
    expect(bad.shards.some((s) => s.entry.file === 'vae-00000.bin')).toBe(false);
  });

  it('rejects a corrupt shard with ShardIntegrityError and never hands it over', async () => {
    const good = server.files.get('mmdit-00000.bin') ?? new Uint8Array(0);
    const bad = good.slice();
    bad[100] = (bad[100] ?? 0) ^ 0xff;
    server.faults.set('mmdit-00000.bin', { replace: bad });
    const { promise, shards } = load();
    const error = await promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShardIntegrityError);
    expect((error as ShardIntegrityError).shard).toMatch(/mmdit-00000\.bin$/);
    expect((error as ShardIntegrityError).expectedSha256).toBe(manifest.components.mmdit?.shards[0]?.sha256);
    expect(shards.some((s) => s.entry.file === 'mmdit-00000.bin')).toBe(false);
  });

  it('rejects a truncated shard after its retries, naming the file', async () => {
    const good = server.files.get('vae-00001.bin') ?? new Uint8Array(0);
    server.faults.set('vae-00001.bin', { replace: good.subarray(0, 1000) });
    const error = await load({ retries: 2 }).promise.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileFormatError);
    expect((error as Error).message).toMatch(/vae-00001\.bin: truncated/);
  });

  it('rejects an oversized shard at once', async () => {
    server.faults.set('vae-00000.bin', { replace: new Uint8Array(SHARD + 10) });
    const error = await load().promise.catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/vae-00000\.bin: oversized/);
    expect(server.requests.filter((r) => r.startsWith('vae-00000.bin')).length).toBe(1);
  });

  it('does not retry a missing shard (HTTP 404)', async () => {
    server.faults.set('mmdit-00002.bin', { status: 404 });
    await expect(load().promise).rejects.toThrow(/mmdit-00002\.bin: HTTP 404/);
    expect(server.requests.filter((r) => r.startsWith('mmdit-00002.bin')).length).toBe(1);
  });

  it('loads only the requested components', async () => {
    const { promise, shards } = load({ components: ['vae'] });
    await promise;
    expect(new Set(shards.map((s) => s.component))).toEqual(new Set(['vae']));
  });

  it('rejects with the abort reason and delivers nothing afterwards', async () => {
    const controller = new AbortController();
    server.faults.set('mmdit-00000.bin', { dropAfter: 0.5, drops: 100 });
    const { promise, shards } = load({
      signal: controller.signal,
      backoffMs: () => 50,
      onProgress: (e) => {
        if (e.phase === 'warning') controller.abort(new Error('user cancelled'));
      },
    });
    await expect(promise).rejects.toThrow('user cancelled');
    const count = shards.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(shards.length).toBe(count);
  });

  it('reads shards through readShard instead of fetch when given', async () => {
    const { promise, shards } = load({ readShard: async (url) => server.files.get(url.split('/').pop() ?? '') ?? new Uint8Array(0) });
    await promise;
    expect(shards.length).toBe(allShards().length);
    expect(server.requests.length).toBe(0);
  });
});

describe('progress throttling', () => {
  it('emits at most one in-progress event per interval across shards, plus each completion', async () => {
    const { promise, events } = load({ throttleMs: 60_000 });
    await promise;
    const downloads = events.filter((e) => e.phase === 'download');
    const partial = downloads.filter((e) => e.shardLoadedBytes < e.shardTotalBytes);
    expect(partial.length).toBeLessThanOrEqual(1);
    expect(downloads.filter((e) => e.shardLoadedBytes === e.shardTotalBytes).length).toBe(allShards().length);
  });
});
