import type { ShardEntry } from './manifest.js';
import { sha256Hex } from './sha256.js';

/** Receives each finished file once, with its complete bytes. */
export type WriteFile = (file: string, bytes: Uint8Array) => Promise<void>;

/**
 * Appends bytes to a component's logical stream and cuts it into fixed-size shard files as it
 * goes, hashing each one. Only the current shard is held in memory, so converting a checkpoint
 * needs one shard plus the tensor being converted, whatever the model's size.
 */
export class ShardWriter {
  readonly shards: ShardEntry[] = [];
  private buffer: Uint8Array;
  private filled = 0;
  private written = 0;

  constructor(
    private readonly prefix: string,
    private readonly shardBytes: number,
    private readonly write: WriteFile,
  ) {
    this.buffer = new Uint8Array(shardBytes);
  }

  /** Bytes appended so far: the stream offset of the next byte. */
  get position(): number {
    return this.written + this.filled;
  }

  async append(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.byteLength) {
      const n = Math.min(bytes.byteLength - at, this.shardBytes - this.filled);
      this.buffer.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.shardBytes) await this.flush();
    }
  }

  /** Zero-fills up to `offset` (alignment gaps). */
  async padTo(offset: number): Promise<void> {
    if (offset > this.position) await this.append(new Uint8Array(offset - this.position));
  }

  /** Writes the last, shorter shard; returns the shard list. */
  async finish(): Promise<ShardEntry[]> {
    if (this.filled > 0) await this.flush();
    return this.shards;
  }

  private async flush(): Promise<void> {
    const bytes = this.buffer.subarray(0, this.filled);
    const file = `${this.prefix}-${String(this.shards.length).padStart(5, '0')}.bin`;
    const sha256 = await sha256Hex(bytes);
    await this.write(file, bytes);
    this.shards.push({ file, bytes: bytes.byteLength, sha256 });
    this.written += this.filled;
    this.filled = 0;
    // A fresh buffer: the writer may keep (or be slow to consume) the previous one.
    this.buffer = new Uint8Array(this.shardBytes);
  }
}
