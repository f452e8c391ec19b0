import { LimitExceededError } from '../../errors.js';
import type { RowLayout } from '../../kernels/matmul.js';

/** Token range `[start, start + rows)` of every batch item: one chunk of a row-chunked op. */
export interface TokenChunk {
  readonly start: number;
  readonly rows: number;
}

/**
 * Splits `tokens` into equal token ranges so that one chunk — `batch · rows` rows of `rowBytes`
 * each, the same range of every batch item — fits a binding of `cap` bytes. One chunk covering
 * everything when the whole `[batch · tokens]` fits. Chunks take the same tokens of every batch
 * item so that a chunk's rows stay batch-major (the gate row of the matmul epilogue is
 * `floor(row / rows)`).
 */
export function tokenChunks(tokens: number, batch: number, rowBytes: number, cap: number, what: string): TokenChunk[] {
  const maxRows = Math.floor(cap / (batch * rowBytes));
  if (maxRows < 1) throw new LimitExceededError('maxStorageBufferBindingSize', batch * rowBytes, cap, `${what}: one token of every batch item`);
  const count = Math.ceil(tokens / maxRows);
  const rows = Math.ceil(tokens / count);
  const out: TokenChunk[] = [];
  for (let start = 0; start < tokens; start += rows) out.push({ start, rows: Math.min(rows, tokens - start) });
  return out;
}

/**
 * The chunk's rows of a `[batch, tokensPerBatch, stride]` value as a matmul/copy row layout, with
 * the stream's first token at `offset` (joint sequences hold streams side by side).
 */
export function chunkLayout(chunk: TokenChunk, tokensPerBatch: number, stride: number, offset = 0, col = 0): RowLayout {
  return { seg: chunk.rows, segRows: tokensPerBatch, offset: offset + chunk.start, col, stride };
}
