/**
 * Bytes in GPU buffers the engine allocated. WebGPU has no memory counter, so the engine counts
 * its own: `peakBytes` is the high-water mark since the last `resetPeak()`.
 */
export class MemoryTracker {
  private readonly sizes = new Map<GPUBuffer, number>();
  private current = 0;
  private peak = 0;

  allocate(buffer: GPUBuffer, bytes: number): void {
    this.sizes.set(buffer, bytes);
    this.current += bytes;
    if (this.current > this.peak) this.peak = this.current;
  }

  release(buffer: GPUBuffer): void {
    const bytes = this.sizes.get(buffer);
    if (bytes === undefined) return;
    this.sizes.delete(buffer);
    this.current -= bytes;
  }

  releaseAll(): void {
    for (const buffer of this.sizes.keys()) buffer.destroy();
    this.sizes.clear();
    this.current = 0;
  }

  get currentBytes(): number {
    return this.current;
  }

  get peakBytes(): number {
    return this.peak;
  }

  get liveBuffers(): number {
    return this.sizes.size;
  }

  resetPeak(): void {
    this.peak = this.current;
  }
}
