import { constants } from 'node:fs';
import { access, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { FileAccessError, FileFormatError, type FileProblem } from '../errors.js';

/**
 * Typed file-system access for every path a user gives (vectors, inputs, shards, outputs, caches)
 * and every path named inside an index or manifest: a failure is a FileAccessError naming the
 * path and what it failed to be, never a raw ENOENT/ENOTDIR/EEXIST with a stack trace.
 */

/** A Node error code as the problem it means, for a path read (`read`) or written (`write`). */
export function problemOf(error: unknown, use: 'read' | 'write'): { problem: FileProblem; code: string } | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return { problem: 'missing', code };
    case 'ENOTDIR':
    case 'EEXIST':
      return { problem: 'not a directory', code };
    case 'EISDIR':
      return { problem: 'not a file', code };
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return { problem: use === 'write' ? 'not writable' : 'not readable', code };
    case 'ENAMETOOLONG':
    case 'ELOOP':
    case 'EINVAL':
    case 'ERR_INVALID_ARG_VALUE': // Node's answer to a NUL byte in a path
      return { problem: 'not a valid path', code };
    default:
      // Any other system error (EIO, ENOSPC, EMFILE...) still names the path and the code.
      return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? { problem: use === 'write' ? 'not writable' : 'not readable', code } : null;
  }
}

/** `error` as a FileAccessError for `path` when it is a file-system error; anything else unchanged. */
export function asFileAccessError(path: string, error: unknown, use: 'read' | 'write'): unknown {
  if (error instanceof FileAccessError) return error;
  const found = problemOf(error, use);
  return found ? new FileAccessError(path, found.problem, found.code) : error;
}

/** Runs a file-system call, turning its errors into FileAccessErrors for `path`. */
export async function typed<T>(path: string, use: 'read' | 'write', run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asFileAccessError(path, error, use);
  }
}

/** The size of the regular file at `path` (FileAccessError: missing, or not a file). */
export async function fileSize(path: string): Promise<number> {
  const info = await typed(path, 'read', () => stat(path));
  if (!info.isFile()) throw new FileAccessError(path, 'not a file', info.isDirectory() ? 'a folder' : null);
  return info.size;
}

/** Checks that `path` is an existing folder. */
export async function requireDirectory(path: string): Promise<void> {
  const info = await typed(path, 'read', () => stat(path));
  if (!info.isDirectory()) throw new FileAccessError(path, 'not a directory');
}

export async function readTextChecked(path: string): Promise<string> {
  await fileSize(path);
  return typed(path, 'read', () => readFile(path, 'utf8'));
}

export async function readBytesChecked(path: string): Promise<Uint8Array> {
  await fileSize(path);
  return typed(path, 'read', () => readFile(path));
}

/**
 * `ref` (a path named inside an index or manifest) resolved against `folder`; it must stay inside
 * it: `../../../etc/passwd` or an absolute path is a FileAccessError "outside <folder>".
 */
export function insideFolder(folder: string, ref: string): string {
  if (ref.includes('\0')) throw new FileAccessError(JSON.stringify(ref), 'not a valid path', 'a NUL byte in the name');
  const root = resolve(folder);
  const path = resolve(root, ref);
  const rel = relative(root, path);
  if (ref === '' || isAbsolute(ref) || rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new FileAccessError(ref, `outside ${root}`, ref === '' ? 'empty path' : `resolves to ${path}`);
  }
  return path;
}

/**
 * Makes `dir` ready to receive files, up front: an existing folder, or created level by level
 * under the nearest existing ancestor (not `mkdir -p`, which never returns under /proc), then a
 * probe file written and removed. A file in the way is "not a directory", anything unwritable
 * "not writable".
 */
export async function prepareOutputDir(dir: string): Promise<string> {
  const target = resolve(dir);
  const missing: string[] = [];
  let at = target;
  for (;;) {
    const info = await stat(at).catch((error: unknown) => {
      // Missing, or under a file (ENOTDIR): walk up to what does exist, and report that.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw asFileAccessError(at, error, 'write');
    });
    if (info) {
      if (!info.isDirectory()) throw new FileAccessError(at, 'not a directory', at === target ? 'a file is in the way' : `a file, above ${target}`);
      break;
    }
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  await typed(at, 'write', () => access(at, constants.W_OK));
  for (const level of missing) {
    await mkdir(level).catch((error: unknown) => {
      const found = problemOf(error, 'write');
      // Where the parent exists but refuses new entries (procfs answers ENOENT), the folder cannot be made.
      if (found?.problem === 'missing') throw new FileAccessError(level, 'not writable', `${found.code}: cannot create a folder here`);
      throw asFileAccessError(level, error, 'write');
    });
  }
  const probe = join(target, `.mmdit-write-probe-${process.pid}`);
  await typed(target, 'write', async () => {
    const handle = await open(probe, 'w');
    await handle.close();
    await unlink(probe);
  });
  return target;
}

/** Suffix of files being written; a final name only ever holds a complete file. */
export const PARTIAL_SUFFIX = '.partial';

/**
 * Writes `bytes` to `path` through a temporary name and a rename, so a process killed mid-write
 * leaves at most a `*.partial` file, never a truncated file under the final name.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}${PARTIAL_SUFFIX}`;
  await typed(path, 'write', async () => {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }).catch(async (error: unknown) => {
    await unlink(temp).catch(() => undefined);
    throw error;
  });
}

/** JSON text of the file `path`; malformed JSON is a FileFormatError naming the file. */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(path, `not valid JSON (${(cause as Error).message})`);
  }
}
