import { FileFormatError, ShardIntegrityError } from '../errors.js';
import { isQuotaError, openShardCache, type ShardCache } from './cache.js';
import { fetchShard } from './fetch-shard.js';
import { COMPONENTS, resolveRelative, type ComponentName, type ModelManifest, type ShardEntry } from './manifest.js';
import { sha256Hex, sha256Stream } from './sha256.js';

/**
 * Brings a model's shards in: from the cache when present and intact, else from the network
 * (streamed, resumed after drops) or a local reader, always SHA-256-verified before the consumer
 * sees a byte — hashed piece by piece as the bytes arrive, so verifying costs no second pass — at
 * most `concurrency` shards in memory at once. The consumer (`onShard`) uploads each shard's
 * tensors to the GPU and drops it, so memory stays a small multiple of one shard.
 */

export interface DownloadProgress {
  readonly phase: 'download';
  readonly component: ComponentName;
  /** Index of the shard within its component. */
  readonly shard: number;
  readonly file: string;
  /** Over the whole load (all requested components). */
  readonly loadedBytes: number;
  readonly totalBytes: number;
  readonly shardLoadedBytes: number;
  readonly shardTotalBytes: number;
  readonly fromCache: boolean;
}

export interface LoadWarning {
  readonly phase: 'warning';
  readonly code: 'cache-unavailable' | 'cache-quota' | 'cache-write-failed' | 'cache-corrupt' | 'retry' | 'no-range';
  readonly message: string;
  readonly component?: ComponentName;
  readonly shard?: number;
}

export type LoadEvent = DownloadProgress | LoadWarning;

export interface VerifiedShard {
  readonly component: ComponentName;
  readonly index: number;
  readonly entry: ShardEntry;
  /** Verified bytes; the consumer must not keep them longer than it needs. */
  readonly bytes: Uint8Array;
  readonly fromCache: boolean;
}

export interface LoadShardsOptions {
  readonly manifest: ModelManifest;
  /** Where the manifest came from: shard paths resolve against it (URL or path). */
  readonly manifestUrl: string;
  /** Default: every component of the manifest. */
  readonly components?: readonly ComponentName[];
  /** Called once per shard, in completion order; awaited before the shard's memory is let go. */
  readonly onShard: (shard: VerifiedShard) => void | Promise<void>;
  readonly onProgress?: (event: LoadEvent) => void;
  readonly signal?: AbortSignal;
  /** Default the global fetch. */
  readonly fetch?: typeof fetch;
  /**
   * Reads a shard without HTTP (local files in Node, in-memory bundles); when given it replaces
   * fetch. It returns the bytes, or a stream of pieces (hashed as they come, copied into one
   * shard-sized buffer). Its bytes are verified like downloaded ones.
   */
  readonly readShard?: ShardReader;
  /** `undefined`: IndexedDB when available; `null`: no cache. */
  readonly cache?: ShardCache | null;
  /** Shards in flight at once (default 2). */
  readonly concurrency?: number;
  readonly retries?: number;
  readonly backoffMs?: (attempt: number) => number;
  /** Minimum ms between progress events of one shard (default 100, i.e. ≤ 10 per second). */
  readonly throttleMs?: number;
}

/** A local shard reader: the whole shard, or its pieces in order. */
export type ShardReader = (url: string, entry: ShardEntry, signal?: AbortSignal) => Promise<Uint8Array | AsyncIterable<Uint8Array>>;

/**
 * Reads a shard from a local reader into one buffer of the manifest's size, hashing each piece as
 * it is copied; a longer stream is rejected at once, a shorter one when it ends.
 */
async function readLocalShard(read: ShardReader, url: string, entry: ShardEntry, signal: AbortSignal, onBytes: (n: number) => void): Promise<{ bytes: Uint8Array; sha256: string }> {
  const result = await read(url, entry, signal);
  if (result instanceof Uint8Array) {
    onBytes(result.byteLength);
    return { bytes: result, sha256: sha256Hex(result) };
  }
  const bytes = new Uint8Array(entry.bytes);
  const hash = sha256Stream();
  let at = 0;
  for await (const piece of result) {
    signal.throwIfAborted();
    if (at + piece.byteLength > bytes.byteLength) throw new FileFormatError(url, `oversized: more than the ${entry.bytes} bytes the manifest gives for this shard`);
    bytes.set(piece, at);
    hash.update(piece);
    at += piece.byteLength;
    onBytes(at);
  }
  return { bytes: at === bytes.byteLength ? bytes : bytes.subarray(0, at), sha256: hash.hex() };
}

export interface LoadResult {
  readonly bytes: number;
  readonly fromCacheBytes: number;
  readonly cached: boolean;
}

interface Job {
  readonly component: ComponentName;
  readonly index: number;
  readonly entry: ShardEntry;
}

export async function loadShards(options: LoadShardsOptions): Promise<LoadResult> {
  const { manifest } = options;
  const wanted = options.components ?? COMPONENTS.filter((c) => manifest.components[c]);
  const jobs: Job[] = [];
  for (const component of wanted) {
    manifest.components[component]?.shards.forEach((entry, index) => jobs.push({ component, index, entry }));
  }
  const totalBytes = jobs.reduce((a, j) => a + j.entry.bytes, 0);
  const emit = options.onProgress ?? (() => undefined);
  let cache = options.cache === undefined ? openShardCache() : options.cache;
  if (options.cache === undefined && !cache) emit({ phase: 'warning', code: 'cache-unavailable', message: 'IndexedDB is not available: shards are downloaded and not cached' });
  let cacheWritable = cache !== null;
  const done = new Map<Job, number>();
  let fromCacheBytes = 0;
  const loaded = () => [...done.values()].reduce((a, b) => a + b, 0);
  const throttle = options.throttleMs ?? 100;

  const warn = (code: LoadWarning['code'], message: string, job: Job): void =>
    emit({ phase: 'warning', code, message, component: job.component, shard: job.index });

  const fromCache = async (job: Job): Promise<Uint8Array | undefined> => {
    if (!cache) return undefined;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await cache.get(job.entry.sha256);
    } catch (error) {
      warn('cache-unavailable', `cache read failed (${describe(error)}); using the network`, job);
      cache = null;
      cacheWritable = false;
      return undefined;
    }
    if (!bytes) return undefined;
    const actual = bytes.byteLength === job.entry.bytes ? sha256Hex(bytes) : `(${bytes.byteLength} bytes)`;
    if (actual === job.entry.sha256) return bytes;
    // A corrupt entry is evicted so it is fetched and stored again; other entries stay.
    warn('cache-corrupt', `cached copy of ${job.entry.file} is corrupt (SHA-256 ${actual}); evicted, fetching again`, job);
    await cache.delete([job.entry.sha256]).catch(() => undefined);
    return undefined;
  };

  // One clock for the whole load, so shards in flight together still make ≤ 10 events/s;
  // a shard's completion is always reported.
  let lastEmit = 0;
  const fromNetwork = async (job: Job, url: string, signal: AbortSignal): Promise<Uint8Array> => {
    const progress = (n: number, final = false): void => {
      done.set(job, n);
      const now = Date.now();
      if (!final && (now - lastEmit < throttle || n === job.entry.bytes)) return;
      lastEmit = now;
      emit({ phase: 'download', component: job.component, shard: job.index, file: job.entry.file, loadedBytes: loaded(), totalBytes, shardLoadedBytes: n, shardTotalBytes: job.entry.bytes, fromCache: false });
    };
    const { bytes, sha256: actual } = options.readShard
      ? await readLocalShard(options.readShard, url, job.entry, signal, (n) => progress(n))
      : await fetchShard(url, {
          fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
          bytes: job.entry.bytes,
          signal,
          ...(options.retries !== undefined ? { retries: options.retries } : {}),
          ...(options.backoffMs ? { backoffMs: options.backoffMs } : {}),
          onBytes: (n) => progress(n),
          onRetry: (attempt, received, error) =>
            warn('retry', `${job.entry.file}: connection failed after ${received} bytes (${describe(error)}); retry ${attempt}, resuming`, job),
          onNoRange: (received) =>
            warn('no-range', `${job.entry.file}: the server ignored the Range request to resume at byte ${received}; reading the whole shard again (streamed)`, job),
        });
    if (actual !== job.entry.sha256 || bytes.byteLength !== job.entry.bytes) {
      throw new ShardIntegrityError(url, job.entry.sha256, bytes.byteLength === job.entry.bytes ? actual : `${actual} (${bytes.byteLength} bytes, expected ${job.entry.bytes})`);
    }
    progress(bytes.byteLength, true);
    return bytes;
  };

  const store = async (job: Job, bytes: Uint8Array): Promise<void> => {
    if (!cache || !cacheWritable) return;
    try {
      await cache.put(job.entry.sha256, bytes);
    } catch (error) {
      // Out of quota: stop writing for this load, keep what is cached, carry on from the network.
      cacheWritable = false;
      warn(isQuotaError(error) ? 'cache-quota' : 'cache-write-failed', `could not cache ${job.entry.file} (${describe(error)}); continuing without caching`, job);
    }
  };

  const run = async (job: Job, signal: AbortSignal): Promise<void> => {
    signal.throwIfAborted();
    const url = resolveRelative(options.manifestUrl, job.entry.file);
    const cached = await fromCache(job);
    const bytes = cached ?? (await fromNetwork(job, url, signal));
    if (cached) {
      fromCacheBytes += bytes.byteLength;
      done.set(job, bytes.byteLength);
      emit({ phase: 'download', component: job.component, shard: job.index, file: job.entry.file, loadedBytes: loaded(), totalBytes, shardLoadedBytes: bytes.byteLength, shardTotalBytes: bytes.byteLength, fromCache: true });
    } else {
      await store(job, bytes);
    }
    signal.throwIfAborted();
    await options.onShard({ component: job.component, index: job.index, entry: job.entry, bytes, fromCache: cached !== undefined });
  };

  await runPool(jobs, options.concurrency ?? 2, run, options.signal);
  // Recorded even after a quota error, so a partly cached model is listed and can be deleted.
  if (cache) {
    await cache
      .putModel({
        id: `${manifest.model}/${manifest.variant}`,
        model: manifest.model,
        variant: manifest.variant,
        manifestUrl: options.manifestUrl,
        shards: jobs.map((j) => ({ sha256: j.entry.sha256, bytes: j.entry.bytes })),
        savedAt: Date.now(),
      })
      .catch(() => undefined);
  }
  return { bytes: totalBytes, fromCacheBytes, cached: cacheWritable };
}

/**
 * Runs jobs with at most `limit` at once. On the first failure the others are aborted and
 * awaited, so no download keeps running (or calls the consumer) after the promise rejects.
 */
async function runPool<T>(jobs: readonly T[], limit: number, run: (job: T, signal: AbortSignal) => Promise<void>, outer?: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const forward = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', forward, { once: true });
  if (outer?.aborted) forward();
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (!failure && next < jobs.length) {
      const job = jobs[next++] as T;
      try {
        await run(job, controller.signal);
      } catch (error) {
        failure ??= { error: outer?.aborted ? outer.reason : error };
        controller.abort(failure.error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, worker));
  } finally {
    outer?.removeEventListener('abort', forward);
  }
  outer?.throwIfAborted();
  if (failure) throw (failure as { error: unknown }).error;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
