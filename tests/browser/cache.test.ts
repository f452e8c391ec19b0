import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/weights/byte-source.js';
import { convert } from '../../src/weights/convert.js';
import type { ModelManifest } from '../../src/weights/manifest.js';
import { openSafetensors } from '../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, randomFloats } from '../unit/weights/helpers.js';
import { launchChromium, serveStatic } from '../../tools/lib/chromium.js';

/**
 * The weights cache in headless Chromium with real IndexedDB, through the built library: a warm
 * load makes no request and fills GPU buffers; a corrupt cached shard is evicted and fetched again;
 * a corrupt download is a ShardIntegrityError that loses nothing already cached; deleting a model
 * evicts only the shards no other model uses; an abort mid-download keeps the finished shards.
 * Shards are served by request interception, which counts requests and injects the faults.
 */

type Lib = typeof import('../../src/advanced.js');

/** The built library (a build elsewhere can be tested by pointing MMDIT_DIST at it). */
const dist = resolve(process.env.MMDIT_DIST ?? resolve(process.cwd(), 'dist'));
const idbKeyval = createRequire(import.meta.url).resolve('idb-keyval').replace(/index\.cjs$/, 'index.js');

// idb-keyval stays an external import of the library build, so the page maps it.
const PAGE = `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": { "idb-keyval": "/vendor/idb-keyval.js" } }</script>
<script type="module">
try {
  window.lib = await import('/advanced.js');
  window.__ready = 'ok';
} catch (error) {
  window.__ready = String(error && error.stack || error);
}
</script>`;

const SHARD = 4096;
const TENSOR = 'blocks.0.weight';
const VALUES = randomFloats(64 * 64, 11);
const files = new Map<string, Uint8Array>();
let manifest: ModelManifest;
let other: ModelManifest;

/** Per-file server behaviour: corrupt bytes, or hold the response until released. */
const faults = new Map<string, { corrupt?: boolean; hold?: Promise<void> }>();
const requests: string[] = [];

let browser: Browser;
let page: Page;
let base = '';
let closeServer: () => void = () => undefined;

async function serveModel(route: Route): Promise<void> {
  const name = new URL(route.request().url()).pathname.replace(/^\/model\//, '');
  requests.push(name);
  const fault = faults.get(name);
  if (fault?.hold) await fault.hold;
  const body = files.get(name);
  if (!body) return route.fulfill({ status: 404 });
  const bytes = fault?.corrupt ? body.map((b, i) => (i === 100 ? b ^ 0xff : b)) : body;
  await route.fulfill({ status: 200, body: Buffer.from(bytes), contentType: 'application/octet-stream' }).catch(() => undefined);
}

beforeAll(async () => {
  if (!existsSync(resolve(dist, 'advanced.js'))) throw new Error(`${dist}/advanced.js is missing: run \`npm run build\` first`);
  const source = await openSafetensors(bytesSource(encodeSafetensors([f32Tensor(TENSOR, [64, 64], VALUES)])));
  ({ manifest } = await convert({ model: 'tiny', quant: 'f32', inputs: { mmdit: source }, shardBytes: SHARD, write: async (f, b) => void files.set(f, b.slice()) }));
  // A second model sharing the first shard's bytes (content-addressed: stored once).
  const extra = new Uint8Array(randomBytes(SHARD));
  files.set('other-extra.bin', extra);
  const shared = manifest.components.mmdit!.shards[0]!;
  other = { ...manifest, model: 'other', components: { vae: { config: {}, tensors: {}, shards: [shared, { file: 'other-extra.bin', bytes: SHARD, sha256: createHash('sha256').update(extra).digest('hex') }] } } };
  const served = await serveStatic(dist, { '/cache.html': PAGE });
  base = served.url;
  closeServer = () => served.server.close();
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  await page.route('**/vendor/idb-keyval.js', (route) => route.fulfill({ body: readFileSync(idbKeyval, 'utf8'), contentType: 'text/javascript' }));
  await page.route('**/model/**', serveModel);
  await page.goto(`${base}/cache.html`);
  await page.waitForFunction(() => (window as { __ready?: string }).__ready !== undefined);
  const ready = await page.evaluate(() => (window as { __ready?: string }).__ready);
  expect(ready, 'the built library loads in the page').toBe('ok');
  const missing = await page.evaluate(() => {
    const lib = (window as unknown as { lib: Record<string, unknown> }).lib;
    return ['loadShards', 'openShardCache', 'listCachedModels', 'deleteModel', 'clearCache', 'cacheUsage', 'loadModelWeights', 'Runtime', 'ShardIntegrityError', 'GpuContext', 'readTensor'].filter((n) => typeof lib[n] !== 'function');
  });
  expect(missing, 'weights API exported by dist/advanced.js').toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  closeServer();
});

beforeEach(async () => {
  faults.clear();
  requests.length = 0;
  await page.evaluate(() => (window as unknown as { lib: Lib }).lib.clearCache());
});

interface LoadOutcome {
  error: { name: string; integrity: boolean; message: string } | null;
  shards: number[];
  fromCache: boolean[];
  warnings: string[];
  cached: string[];
}

/** Loads a model in the page with the IndexedDB cache; reports what happened. */
function load(m: ModelManifest, url: string, abortAfterShards?: number): Promise<LoadOutcome> {
  return page.evaluate(
    async ({ m, url, abortAfterShards }) => {
      const lib = (window as unknown as { lib: Lib }).lib;
      const cache = lib.openShardCache();
      const controller = new AbortController();
      const shards: number[] = [];
      const fromCache: boolean[] = [];
      const warnings: string[] = [];
      let error: LoadOutcome['error'] = null;
      try {
        await lib.loadShards({
          manifest: lib.parseManifest(JSON.parse(m), url),
          manifestUrl: url,
          cache,
          backoffMs: () => 0,
          retries: 0,
          signal: controller.signal,
          onProgress: (e) => void (e.phase === 'warning' && warnings.push(`${e.code}:${e.shard ?? ''}`)),
          onShard: (s) => {
            shards.push(s.index);
            fromCache.push(s.fromCache);
            if (shards.length === abortAfterShards) controller.abort();
          },
        });
      } catch (e) {
        const err = e as Error;
        error = { name: err.name, integrity: err instanceof lib.ShardIntegrityError, message: err.message };
      }
      return { error, shards, fromCache, warnings, cached: ((await cache?.list()) ?? []).sort() };
    },
    // As JSON text: the manifest's deep readonly type is too deep for evaluate's argument type.
    { m: JSON.stringify(m), url, ...(abortAfterShards !== undefined ? { abortAfterShards } : {}) },
  );
}

const modelUrl = () => `${base}/model/manifest.json`;
const shas = (m: ModelManifest) => Object.values(m.components).flatMap((c) => c.shards.map((s) => s.sha256));

describe('weights cache in Chromium (IndexedDB)', () => {
  it('a warm load through the one weights path makes no request, reads every shard from IndexedDB and fills the GPU buffers', async () => {
    const cold = await load(manifest, modelUrl());
    expect(cold.error).toBeNull();
    expect(requests.length).toBe(4);
    expect(cold.cached).toEqual([...shas(manifest)].sort());
    requests.length = 0;
    const warm = await page.evaluate(
      async ({ m, url, tensor }) => {
        const lib = (window as unknown as { lib: Lib }).lib;
        const ctx = await lib.GpuContext.acquire();
        const manifest = lib.parseManifest(JSON.parse(m), url);
        const rt = new lib.Runtime(ctx);
        const fromCache: boolean[] = [];
        const weights = await lib.loadModelWeights(rt, { manifest, manifestUrl: url, onShardWritten: (s) => void fromCache.push(s.fromCache) });
        const values = Array.from(await lib.readTensor(ctx, weights.mmdit!.tensor(tensor)));
        const models = await lib.listCachedModels();
        ctx.dispose();
        return { fromCache, complete: weights.mmdit!.size === 1, values, models };
      },
      { m: JSON.stringify(manifest), url: modelUrl(), tensor: TENSOR },
    );
    expect(requests).toEqual([]);
    expect(warm.fromCache).toEqual([true, true, true, true]);
    expect(warm.complete).toBe(true);
    expect(warm.values).toEqual(Array.from(VALUES));
    expect(warm.models).toMatchObject([{ id: 'tiny/f32', bytes: 4 * SHARD, cachedBytes: 4 * SHARD, complete: true }]);
  });

  it('a corrupt cached shard is evicted, fetched again and cached intact', async () => {
    await load(manifest, modelUrl());
    const victim = manifest.components.mmdit!.shards[2]!;
    await page.evaluate(async (sha) => {
      const cache = (window as unknown as { lib: Lib }).lib.openShardCache()!;
      const bytes = (await cache.get(sha))!;
      bytes[7] = (bytes[7] ?? 0) ^ 0xff;
      await cache.put(sha, bytes);
    }, victim.sha256);
    requests.length = 0;
    const again = await load(manifest, modelUrl());
    expect(again.error).toBeNull();
    expect(again.warnings).toEqual(['cache-corrupt:2']);
    expect(requests).toEqual([victim.file]);
    const third = await load(manifest, modelUrl());
    expect(third.fromCache).toEqual([true, true, true, true]);
  });

  it('a corrupt download is a ShardIntegrityError; the shards cached before it are kept and not fetched again', async () => {
    const bad = manifest.components.mmdit!.shards[3]!;
    faults.set(bad.file, { corrupt: true });
    const failed = await load(manifest, modelUrl());
    expect(failed.error).toMatchObject({ name: 'ShardIntegrityError', integrity: true });
    expect(failed.error?.message).toContain(bad.file);
    expect(failed.cached).not.toContain(bad.sha256);
    const kept = failed.cached;
    expect(kept.length).toBeGreaterThanOrEqual(2);
    faults.clear();
    requests.length = 0;
    const retry = await load(manifest, modelUrl());
    expect(retry.error).toBeNull();
    expect(requests.length).toBe(4 - kept.length);
    expect(retry.cached).toEqual([...shas(manifest)].sort());
  });

  it('deleting a model evicts only the shards no other cached model uses; clearing empties the cache', async () => {
    await load(manifest, modelUrl());
    await load(other, `${base}/model/other.json`);
    const result = await page.evaluate(async () => {
      const lib = (window as unknown as { lib: Lib }).lib;
      const before = await lib.cacheUsage();
      const freed = await lib.deleteModel('tiny/f32');
      const models = (await lib.listCachedModels()).map((m) => ({ id: m.id, complete: m.complete }));
      const left = (await lib.openShardCache()!.list()).sort();
      await lib.clearCache();
      return { before, freed, models, left, after: await lib.cacheUsage() };
    });
    const sharedSha = manifest.components.mmdit!.shards[0]!.sha256;
    expect(result.before.shards).toBe(5);
    expect(result.before.quota).toBeGreaterThan(0);
    expect(result.freed).toBe(3 * SHARD);
    expect(result.models).toEqual([{ id: 'other/f32', complete: true }]);
    expect(result.left).toEqual([sharedSha, other.components.vae!.shards[1]!.sha256].sort());
    expect(result.after).toMatchObject({ shards: 0, shardBytes: 0 });
  });

  it('an abort mid-download rejects with AbortError, keeps the finished shards and the next load fetches only the rest', async () => {
    let release: () => void = () => undefined;
    const hold = new Promise<void>((r) => (release = r));
    const [, , s2, s3] = manifest.components.mmdit!.shards;
    faults.set(s2!.file, { hold });
    faults.set(s3!.file, { hold });
    const aborted = await load(manifest, modelUrl(), 2);
    release();
    expect(aborted.error?.name).toBe('AbortError');
    expect(aborted.shards.sort()).toEqual([0, 1]);
    expect(aborted.cached).toEqual([manifest.components.mmdit!.shards[0]!.sha256, manifest.components.mmdit!.shards[1]!.sha256].sort());
    faults.clear();
    requests.length = 0;
    const resumed = await load(manifest, modelUrl());
    expect(resumed.error).toBeNull();
    expect(requests.sort()).toEqual([s2!.file, s3!.file].sort());
    expect(resumed.cached).toEqual([...shas(manifest)].sort());
  });
});
