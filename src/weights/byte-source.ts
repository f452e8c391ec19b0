import { FileFormatError, InvalidArgumentError } from '../errors.js';

/**
 * Random access to the bytes of one file, wherever it lives. Readers (safetensors, ONNX, shards)
 * only ever ask for ranges, so a checkpoint of any size is read without holding it whole: Chrome
 * caps single ArrayBuffers near 2 GB and the denoisers are bigger than that.
 */
export interface ByteSource {
  /** A file name or URL, used in error messages. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset`; a range past the end rejects with FileFormatError. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Rejects ranges that are negative, fractional or past the end, naming the file. */
export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new InvalidArgumentError('byte range', 'non-negative integers', `${offset}+${length}`);
  }
  if (offset + length > src.size) {
    throw new FileFormatError(
      src.name,
      `truncated: bytes ${offset}..${offset + length} requested but the file has ${src.size} bytes`,
    );
  }
}

/** In-memory bytes. `read` returns views, not copies: callers must not write into them. */
export function bytesSource(bytes: Uint8Array, name = 'memory'): ByteSource {
  const size = bytes.byteLength;
  return {
    name,
    size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange({ name, size }, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A Blob or File (browser file pickers, drag and drop); only the requested slice is read. */
export function blobSource(blob: Blob, name = (blob as Partial<File>).name ?? 'blob'): ByteSource {
  const size = blob.size;
  return {
    name,
    size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange({ name, size }, offset, length);
      const buffer = await blob.slice(offset, offset + length).arrayBuffer();
      signal?.throwIfAborted();
      return new Uint8Array(buffer);
    },
  };
}

export interface HttpSourceOptions {
  /** Defaults to the global `fetch`; tests and Node callers may inject their own. */
  readonly fetch?: typeof fetch;
  /** Known size (e.g. from a manifest) saves the size probe. */
  readonly size?: number;
  readonly signal?: AbortSignal;
  /** Extra headers sent with every request (authorisation for gated repositories). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A URL read with HTTP Range requests. The size comes from HEAD's Content-Length or, where HEAD
 * is refused or hides the length (some CDNs), from the Content-Range of a one-byte range probe.
 * A server that ignores Range (200 instead of 206) is an error: silently downloading a whole
 * multi-gigabyte file for every slice is exactly what this source exists to avoid.
 */
export async function httpSource(url: string | URL, options: HttpSourceOptions = {}): Promise<ByteSource> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const name = String(url);
  const headers = options.headers ?? {};
  const size = options.size ?? (await probeSize(doFetch, name, headers, options.signal));
  return {
    name,
    size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange({ name, size }, offset, length);
      if (length === 0) return new Uint8Array(0);
      const response = await doFetch(name, {
        headers: { ...headers, Range: `bytes=${offset}-${offset + length - 1}` },
        ...(signal ? { signal } : {}),
      });
      if (response.status !== 206) {
        await response.body?.cancel();
        throw new FileFormatError(name, `range request answered HTTP ${response.status}, expected 206 Partial Content`);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.byteLength !== length) {
        throw new FileFormatError(name, `range request returned ${bytes.byteLength} bytes, expected ${length}`);
      }
      return bytes;
    },
  };
}

async function probeSize(
  doFetch: typeof fetch,
  url: string,
  headers: Readonly<Record<string, string>>,
  signal: AbortSignal | undefined,
): Promise<number> {
  const init = signal ? { signal } : {};
  try {
    const head = await doFetch(url, { method: 'HEAD', headers, ...init });
    const length = head.ok ? Number(head.headers.get('content-length') ?? NaN) : NaN;
    if (Number.isSafeInteger(length) && length >= 0 && head.headers.get('content-encoding') === null) return length;
  } catch {
    // A refused or failed HEAD is not fatal: the range probe below is the fallback.
    signal?.throwIfAborted();
  }
  const probe = await doFetch(url, { headers: { ...headers, Range: 'bytes=0-0' }, ...init });
  await probe.body?.cancel();
  const total = /\/(\d+)\s*$/.exec(probe.headers.get('content-range') ?? '')?.[1];
  if (probe.status === 206 && total !== undefined) return Number(total);
  throw new FileFormatError(url, `cannot determine the size (HTTP ${probe.status}; no Content-Length or Content-Range)`);
}

/** Reads the whole source; only for small files (headers, configs, tokenizers, tests). */
export async function readAll(src: ByteSource, signal?: AbortSignal): Promise<Uint8Array> {
  return src.read(0, src.size, signal);
}
