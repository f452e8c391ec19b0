import { clear, createStore, del, delMany, get, keys, set, values, type UseStore } from 'idb-keyval';

/**
 * The shard cache: shard bytes keyed by their SHA-256 (content-addressed, so identical shards are
 * shared by models and variants, renames do not matter, and a changed model can never read stale
 * bytes), plus one record per loaded model listing its shards (for listing, sizes and deletion).
 * Browsers use IndexedDB through idb-keyval; anything implementing ShardCache can stand in.
 */

export interface CachedShard {
  readonly sha256: string;
  readonly bytes: number;
}

export interface ModelRecord {
  /** `<model>/<variant>`. */
  readonly id: string;
  readonly model: string;
  readonly variant: string;
  readonly manifestUrl: string;
  readonly shards: readonly CachedShard[];
  readonly savedAt: number;
}

export interface ShardCache {
  get(sha256: string): Promise<Uint8Array | undefined>;
  /** May reject with a `QuotaExceededError` DOMException; nothing already stored is affected. */
  put(sha256: string, bytes: Uint8Array): Promise<void>;
  delete(sha256s: readonly string[]): Promise<void>;
  /** The hashes present (keys only: never loads shard bytes). */
  list(): Promise<string[]>;
  models(): Promise<ModelRecord[]>;
  putModel(record: ModelRecord): Promise<void>;
  deleteModelRecord(id: string): Promise<void>;
  clear(): Promise<void>;
}

/** Database names; two databases because idb-keyval keeps one object store per database. */
export const CACHE_DB = { shards: 'mmdit-webgpu-shards', models: 'mmdit-webgpu-models' } as const;

export function indexedDbAvailable(): boolean {
  return typeof indexedDB !== 'undefined' && indexedDB !== null;
}

/** The IndexedDB cache, or null where there is no IndexedDB (Node without a polyfill, some private modes). */
export function openShardCache(names: { shards: string; models: string } = CACHE_DB): ShardCache | null {
  if (!indexedDbAvailable()) return null;
  const shards: UseStore = createStore(names.shards, 'shards');
  const models: UseStore = createStore(names.models, 'models');
  return {
    async get(sha256) {
      const value = await get<Uint8Array | ArrayBuffer>(sha256, shards);
      if (value === undefined) return undefined;
      return value instanceof Uint8Array ? value : new Uint8Array(value);
    },
    put(sha256, bytes) {
      // Structured clone copies a view's whole ArrayBuffer, so store a tight copy of a subarray.
      const tight = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
      return set(sha256, tight, shards);
    },
    delete: (sha256s) => delMany([...sha256s], shards),
    list: () => keys<string>(shards),
    models: () => values<ModelRecord>(models),
    putModel: (record) => set(record.id, record, models),
    deleteModelRecord: (id) => del(id, models),
    async clear() {
      await clear(shards);
      await clear(models);
    },
  };
}

export interface CachedModel {
  readonly id: string;
  readonly model: string;
  readonly variant: string;
  readonly manifestUrl: string;
  /** Bytes of the model's shards (all of them). */
  readonly bytes: number;
  /** Bytes of its shards present in the cache. */
  readonly cachedBytes: number;
  readonly complete: boolean;
  readonly savedAt: number;
}

function defaultCache(cache: ShardCache | null | undefined): ShardCache | null {
  return cache === undefined ? openShardCache() : cache;
}

/** Models with a record in the cache, with their total and cached sizes. */
export async function listCachedModels(cache?: ShardCache | null): Promise<CachedModel[]> {
  const c = defaultCache(cache);
  if (!c) return [];
  const [records, present] = await Promise.all([c.models(), c.list()]);
  const have = new Set(present);
  return records.map((r) => {
    const bytes = r.shards.reduce((a, s) => a + s.bytes, 0);
    const cachedBytes = r.shards.reduce((a, s) => a + (have.has(s.sha256) ? s.bytes : 0), 0);
    return { id: r.id, model: r.model, variant: r.variant, manifestUrl: r.manifestUrl, bytes, cachedBytes, complete: cachedBytes === bytes, savedAt: r.savedAt };
  });
}

export interface CacheUsage {
  /** Origin-wide figures from `navigator.storage.estimate()`, where available. */
  readonly usage?: number;
  readonly quota?: number;
  /** Bytes of cached shards that some model record accounts for (each shard counted once). */
  readonly shardBytes: number;
  readonly shards: number;
  readonly persisted?: boolean;
}

export async function cacheUsage(cache?: ShardCache | null): Promise<CacheUsage> {
  const c = defaultCache(cache);
  const storage = storageManager();
  const estimate = storage?.estimate ? await storage.estimate().catch(() => undefined) : undefined;
  const persisted = storage?.persisted ? await storage.persisted().catch(() => undefined) : undefined;
  let shardBytes = 0;
  let shards = 0;
  if (c) {
    const [records, present] = await Promise.all([c.models(), c.list()]);
    const sizes = new Map<string, number>();
    for (const r of records) for (const s of r.shards) sizes.set(s.sha256, s.bytes);
    shards = present.length;
    for (const sha of present) shardBytes += sizes.get(sha) ?? 0;
  }
  return {
    shardBytes,
    shards,
    ...(estimate?.usage !== undefined ? { usage: estimate.usage } : {}),
    ...(estimate?.quota !== undefined ? { quota: estimate.quota } : {}),
    ...(persisted !== undefined ? { persisted } : {}),
  };
}

/**
 * Asks the browser not to evict the cache under storage pressure. Browsers may decline or grant
 * silently (Chrome decides from engagement); false where the API is missing.
 */
export async function requestPersistence(): Promise<boolean> {
  const storage = storageManager();
  if (!storage?.persist) return false;
  return storage.persist().catch(() => false);
}

/** Removes a model's record and every shard no other cached model uses. Returns the bytes freed. */
export async function deleteModel(id: string, cache?: ShardCache | null): Promise<number> {
  const c = defaultCache(cache);
  if (!c) return 0;
  const records = await c.models();
  const target = records.find((r) => r.id === id);
  if (!target) return 0;
  const stillUsed = new Set(records.filter((r) => r.id !== id).flatMap((r) => r.shards.map((s) => s.sha256)));
  const present = new Set(await c.list());
  const doomed = target.shards.filter((s) => !stillUsed.has(s.sha256) && present.has(s.sha256));
  await c.delete(doomed.map((s) => s.sha256));
  await c.deleteModelRecord(id);
  return doomed.reduce((a, s) => a + s.bytes, 0);
}

/** Empties the cache (shards and model records). */
export async function clearCache(cache?: ShardCache | null): Promise<void> {
  await defaultCache(cache)?.clear();
}

export function isQuotaError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

function storageManager(): Partial<StorageManager> | undefined {
  return (globalThis.navigator as (Navigator & { storage?: StorageManager }) | undefined)?.storage;
}
