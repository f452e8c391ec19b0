import { readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { prepareOutputDir } from './fs-checks.js';
import type { ModelRecord, ShardCache } from '../weights/cache.js';

/**
 * The shard cache of Node: a directory, content-addressed like the IndexedDB cache (one file per
 * shard named by its SHA-256, one JSON record per model), so `loadShards`, `listCachedModels`,
 * `deleteModel` and `cacheUsage` work on it unchanged. Files are written under a temporary name
 * and renamed, so a crash never leaves a half-written shard under a valid name (and the loader
 * re-hashes whatever it reads anyway). A full disk or the optional `maxBytes` budget rejects with a
 * `QuotaExceededError`, which the loader treats like a browser quota: it stops caching, warns,
 * keeps what is cached and carries on from the network.
 *
 * Layout: `<dir>/shards/<sha256>.bin`, `<dir>/models/<encoded id>.json`.
 */

export interface DirectoryCacheOptions {
  /** Total shard bytes the cache may hold; a `put` beyond it is a QuotaExceededError. */
  readonly maxBytes?: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHARD_SUFFIX = '.bin';

function quotaError(message: string): DOMException {
  return new DOMException(message, 'QuotaExceededError');
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** ENOSPC / EDQUOT are the file system's quota errors. */
function asQuota(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? quotaError(`${what}: ${code}`) : error;
}

export function openDirectoryCache(dir: string, options: DirectoryCacheOptions = {}): ShardCache {
  const shardsDir = join(dir, 'shards');
  const modelsDir = join(dir, 'models');
  const shardPath = (sha256: string): string => {
    if (!SHA256.test(sha256)) throw new InvalidArgumentError('sha256', '64 lower-case hex digits', sha256);
    return join(shardsDir, sha256 + SHARD_SUFFIX);
  };
  const modelPath = (id: string): string => join(modelsDir, encodeURIComponent(id) + '.json');
  let sequence = 0;
  let puts: Promise<unknown> = Promise.resolve();
  // Each folder is prepared once, typed (a file in the way, unwritable, /proc: never `mkdir -p`,
  // which does not return there).
  const prepared = new Map<string, Promise<string>>();
  const writeAtomically = async (path: string, bytes: Uint8Array | string, folder: string): Promise<void> => {
    let ready = prepared.get(folder);
    if (!ready) {
      ready = prepareOutputDir(folder);
      prepared.set(folder, ready);
      ready.catch(() => prepared.delete(folder));
    }
    await ready;
    const temporary = `${path}.${process.pid}.${sequence++}.tmp`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw asQuota(error, `cannot write ${path}`);
    }
  };
  const list = async (): Promise<string[]> => {
    const names = await readdir(shardsDir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)));
    return names.filter((n) => n.endsWith(SHARD_SUFFIX) && SHA256.test(n.slice(0, -SHARD_SUFFIX.length))).map((n) => n.slice(0, -SHARD_SUFFIX.length));
  };
  const usedBytes = async (): Promise<number> => {
    const sizes = await Promise.all((await list()).map((sha) => stat(shardPath(sha)).then((s) => s.size, () => 0)));
    return sizes.reduce((a, b) => a + b, 0);
  };
  return {
    async get(sha256) {
      try {
        const bytes = await readFile(shardPath(sha256));
        return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    put(sha256, bytes) {
      // One put at a time, so the budget check and the write it allows cannot interleave.
      const done = puts.then(async () => {
        const path = shardPath(sha256);
        if (options.maxBytes !== undefined) {
          const present = await stat(path).then((s) => s.size, () => 0);
          const total = (await usedBytes()) - present + bytes.byteLength;
          if (total > options.maxBytes) throw quotaError(`the cache at ${dir} would hold ${total} bytes, over its ${options.maxBytes}-byte budget`);
        }
        await writeAtomically(path, bytes, shardsDir);
      });
      puts = done.catch(() => undefined);
      return done;
    },
    async delete(sha256s) {
      await Promise.all(sha256s.map((sha) => unlink(shardPath(sha)).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)))));
    },
    list,
    async models() {
      const names = await readdir(modelsDir).catch((error: unknown) => (isMissing(error) ? [] : Promise.reject(error)));
      const records = await Promise.all(
        names.filter((n) => n.endsWith('.json')).map(async (n) => {
          try {
            return JSON.parse(await readFile(join(modelsDir, n), 'utf8')) as ModelRecord;
          } catch {
            // An unreadable record lists nothing; its shards stay until deleted or cleared.
            return null;
          }
        }),
      );
      return records.filter((r): r is ModelRecord => r !== null && typeof r.id === 'string' && Array.isArray(r.shards));
    },
    putModel: (record) => writeAtomically(modelPath(record.id), JSON.stringify(record), modelsDir),
    async deleteModelRecord(id) {
      await unlink(modelPath(id)).catch((error: unknown) => (isMissing(error) ? undefined : Promise.reject(error)));
    },
    async clear() {
      await rm(shardsDir, { recursive: true, force: true });
      await rm(modelsDir, { recursive: true, force: true });
    },
  };
}
