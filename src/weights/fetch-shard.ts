import { FileFormatError } from '../errors.js';
import { type Sha256Stream, sha256Stream } from './sha256.js';

export interface FetchShardOptions {
  readonly fetch: typeof fetch;
  /** Exact size from the manifest: the buffer is allocated once, and a longer body is an error. */
  readonly bytes: number;
  readonly signal?: AbortSignal;
  /** Attempts after a failure that made no progress (a resumed attempt that gets bytes resets it). */
  readonly retries?: number;
  /** Delay before retry n (0-based), in ms; tests pass 0. */
  readonly backoffMs?: (attempt: number) => number;
  readonly onBytes?: (loaded: number) => void;
  readonly onRetry?: (attempt: number, loaded: number, error: unknown) => void;
  /** The server answered a resume (`Range`) with the whole file: the shard is read again from byte 0. */
  readonly onNoRange?: (loaded: number) => void;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A downloaded shard and the SHA-256 of its bytes, computed while they streamed in. */
export interface FetchedShard {
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/**
 * Downloads one shard into one preallocated buffer, streaming the body and hashing each piece as
 * it arrives (no second pass). A dropped connection is resumed with `Range: bytes=<received>-`,
 * the hash carrying on from where it was; a server that answers 200 to that (no range support) is
 * read again from zero as one streamed whole-file read (`onNoRange` says so), the hash restarted.
 * Bodies longer than the manifest's size are rejected at once (oversized or wrong file); shorter
 * ones are retried and then rejected as truncated. HTTP 4xx is not retried.
 */
export async function fetchShard(url: string, options: FetchShardOptions): Promise<FetchedShard> {
  const total = options.bytes;
  const buffer = new Uint8Array(total);
  const hash: { stream: Sha256Stream } = { stream: sha256Stream() };
  const retries = options.retries ?? 5;
  const backoff = options.backoffMs ?? ((n: number) => Math.min(4000, 250 * 2 ** n));
  let received = 0;
  let failures = 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const before = received;
    try {
      received = await attempt(url, buffer, received, options, hash);
      if (received === total) return { bytes: buffer, sha256: hash.stream.hex() };
      throw new FileFormatError(url, `truncated: the server sent ${received} of ${total} bytes`);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof HttpStatusError && error.status >= 400 && error.status < 500) {
        throw new FileFormatError(url, `HTTP ${error.status} ${error.statusText}`);
      }
      if (error instanceof FileFormatError && error.reason.startsWith('oversized')) throw error;
      received = error instanceof PartialError ? error.received : received;
      failures = received > before ? 1 : failures + 1;
      if (failures > retries) throw error instanceof PartialError ? error.cause : error;
      options.onRetry?.(failures, received, error instanceof PartialError ? error.cause : error);
      const wait = backoff(failures - 1);
      if (wait > 0) await sleep(wait, options.signal);
    }
  }
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly statusText: string,
  ) {
    super(`HTTP ${status} ${statusText}`);
  }
}

/** A failure after some bytes arrived: carries how far we got so the next attempt resumes there. */
class PartialError extends Error {
  constructor(
    readonly received: number,
    override readonly cause: unknown,
  ) {
    super('partial download');
  }
}

async function attempt(url: string, buffer: Uint8Array, from: number, options: FetchShardOptions, hash: { stream: Sha256Stream }): Promise<number> {
  const headers: Record<string, string> = { ...options.headers };
  if (from > 0) headers['Range'] = `bytes=${from}-`;
  const response = await options.fetch(url, { headers, ...(options.signal ? { signal: options.signal } : {}) });
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new HttpStatusError(response.status, response.statusText);
  }
  let received = from;
  if (from > 0 && response.status !== 206) {
    options.onNoRange?.(from);
    received = 0;
    hash.stream = sha256Stream();
  }
  if (!response.body) throw new FileFormatError(url, 'response has no body');
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return received;
      if (received + value.byteLength > buffer.byteLength) {
        throw new FileFormatError(url, `oversized: more than the ${buffer.byteLength} bytes the manifest gives for this shard`);
      }
      buffer.set(value, received);
      hash.stream.update(value);
      received += value.byteLength;
      options.onBytes?.(received);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof FileFormatError) throw error;
    throw new PartialError(received, error);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
