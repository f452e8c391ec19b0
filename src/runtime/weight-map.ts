import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, DisposedError, LimitExceededError } from '../errors.js';
import type { EmbeddingTable } from '../kernels/embed.js';
import type { JsonValue } from '../weights/manifest.js';
import type { TensorInfo, TensorSource } from '../weights/tensor-source.js';
import type { GpuTensor } from '../tensor/tensor.js';

export type StoredConfig = { readonly [key: string]: JsonValue };

/**
 * One component's weights on the GPU under canonical names: what the one uploader produces from
 * any source and what every component takes. It reads as a `ReadonlyMap<name, GpuTensor>` (the
 * models' graph emission binds from it); a tensor too large for one GPU buffer is held in row parts,
 * reachable through `table` (token tables are the only such tensors a model binds).
 */
export class WeightMap implements ReadonlyMap<string, GpuTensor> {
  private released = false;

  constructor(
    private readonly ctx: GpuContext,
    private readonly whole: ReadonlyMap<string, GpuTensor>,
    private readonly parted: ReadonlyMap<string, readonly GpuTensor[]>,
    /** The tensors as stored (names, shapes, stored dtypes): what configurations derive from. */
    readonly infos: ReadonlyMap<string, TensorInfo>,
    /** Where the weights came from (file, URL, manifest component), for messages. */
    readonly origin: string,
    /** What the converter recorded beyond shapes (a manifest component's `config`), if any. */
    readonly storedConfig: StoredConfig | undefined,
  ) {}

  get size(): number {
    return this.whole.size + this.parted.size;
  }

  /** GPU bytes of all tensors and their scales. */
  get bytes(): number {
    let total = 0;
    const add = (t: GpuTensor) => {
      total += t.buffer.size;
      if (t.scales) total += t.scales.buffer.size;
    };
    for (const t of this.whole.values()) add(t);
    for (const parts of this.parted.values()) parts.forEach(add);
    return total;
  }

  get isReleased(): boolean {
    return this.released;
  }

  has(name: string): boolean {
    return this.whole.has(name) || this.parted.has(name);
  }

  /** The tensor, as one buffer; a tensor held in row parts is an error naming it and the limit. */
  get(name: string): GpuTensor | undefined {
    this.assertLive();
    const t = this.whole.get(name);
    if (t || !this.parted.has(name)) return t;
    const info = this.infos.get(name);
    throw new LimitExceededError('maxBufferSize', info?.byteLength ?? 0, this.ctx.caps.maxBufferSize, `weight "${name}" ${JSON.stringify(info?.shape ?? [])} (only token tables may be held in row parts)`);
  }

  /** The tensor, or a CheckpointError naming it and the origin. */
  tensor(name: string): GpuTensor {
    const t = this.get(name);
    if (!t) throw new CheckpointError(name, `is not in ${this.origin}`);
    return t;
  }

  /** A token table: one tensor, or its row parts in order. */
  table(name: string): EmbeddingTable {
    this.assertLive();
    const parts = this.parted.get(name);
    if (parts) return parts;
    return this.tensor(name);
  }

  keys(): MapIterator<string> {
    return [...this.whole.keys(), ...this.parted.keys()][Symbol.iterator]() as MapIterator<string>;
  }

  values(): MapIterator<GpuTensor> {
    return this.whole.values();
  }

  entries(): MapIterator<[string, GpuTensor]> {
    return this.whole.entries();
  }

  forEach(fn: (value: GpuTensor, key: string, map: ReadonlyMap<string, GpuTensor>) => void): void {
    for (const [k, v] of this.whole) fn(v, k, this);
  }

  [Symbol.iterator](): MapIterator<[string, GpuTensor]> {
    return this.entries();
  }

  /** The tensor descriptions as a TensorSource without bytes (configuration and key checks). */
  describe(): TensorSource {
    const origin = this.origin;
    return {
      origin,
      tensors: this.infos,
      read: (name) => Promise.reject(new CheckpointError(name, `is already on the GPU (${origin}); only its description is readable`)),
    };
  }

  /** Destroys every buffer (tensors, parts, scales). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const free = (t: GpuTensor) => {
      if (t.scales) this.ctx.destroyBuffer(t.scales.buffer);
      this.ctx.destroyBuffer(t.buffer);
    };
    for (const t of this.whole.values()) free(t);
    for (const parts of this.parted.values()) parts.forEach(free);
  }

  private assertLive(): void {
    if (this.released) throw new DisposedError(`WeightMap (${this.origin})`);
  }
}
