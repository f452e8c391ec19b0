import type { GpuContext } from './device.js';
import { DisposedError } from '../errors.js';

/**
 * Reusable GPU buffers by usage and power-of-two size class, for transient work outside compiled
 * graphs (uploads of per-call inputs, staging for reads). Compiled graphs plan their own slots.
 */
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizeOf = new Map<GPUBuffer, number>();
  private disposed = false;

  constructor(private readonly ctx: GpuContext) {}

  private static sizeClass(bytes: number): number {
    return 2 ** Math.max(8, Math.ceil(Math.log2(Math.max(1, bytes))));
  }

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'pooled'): GPUBuffer {
    if (this.disposed) throw new DisposedError('BufferPool');
    const size = BufferPool.sizeClass(bytes);
    const key = `${usage}:${size}`;
    const buffer = this.free.get(key)?.pop() ?? this.ctx.createBuffer(label, size, usage);
    this.sizeOf.set(buffer, size);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizeOf.get(buffer);
    if (size === undefined || this.disposed) return;
    const key = `${buffer.usage}:${size}`;
    const list = this.free.get(key) ?? [];
    list.push(buffer);
    this.free.set(key, list);
  }

  /** Buffers held (free or in use) since the last dispose. */
  get size(): number {
    return this.sizeOf.size;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const buffer of this.sizeOf.keys()) this.ctx.destroyBuffer(buffer);
    this.sizeOf.clear();
    this.free.clear();
  }
}
