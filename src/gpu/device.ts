import { DeviceLostError, DisposedError, GpuOutOfMemoryError, WebGPUUnavailableError } from '../errors.js';
import { type DeviceCaps, OPTIONAL_FEATURES } from './features.js';
import { type EngineLimits, effectiveLimit, requiredLimits } from './limits.js';
import { MemoryTracker } from './memory.js';

export interface AcquireOptions {
  /** A `GPU` object: `navigator.gpu` in browsers (the default), `createNodeGpu().gpu` in Node. */
  readonly gpu?: GPU;
  /** Use the caller's device instead of requesting one (features and limits are then theirs). */
  readonly device?: GPUDevice;
  readonly powerPreference?: GPUPowerPreference;
  readonly limits?: EngineLimits;
  /** Turn optional features off, e.g. to test the f32 path on an adapter with shader-f16. */
  readonly disableFeatures?: readonly string[];
}

/** Creating buffers above this size runs inside an out-of-memory error scope. */
const OOM_SCOPE_BYTES = 64 * 1024 * 1024;

/**
 * The engine's hold on one GPUDevice: capabilities, memory accounting, buffer creation and the
 * device-loss state. Every GPU resource the engine makes goes through here.
 */
export class GpuContext {
  readonly device: GPUDevice;
  readonly caps: DeviceCaps;
  readonly adapterInfo: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean };
  readonly memory = new MemoryTracker();
  /** Readbacks made through `read` since the context was made (tests count them: a generation makes one). */
  readbacks = 0;
  private lostError: DeviceLostError | null = null;
  /** The first allocation the device refused for memory, not yet reported to a caller. */
  private outOfMemory: GpuOutOfMemoryError | null = null;
  private readonly allocationChecks = new Set<Promise<void>>();
  private disposed = false;
  private readonly ownsDevice: boolean;
  private readonly zero: GPUBuffer;

  private constructor(device: GPUDevice, adapter: GPUAdapter | null, ownsDevice: boolean, limits: EngineLimits | undefined) {
    this.device = device;
    this.ownsDevice = ownsDevice;
    const info = adapter?.info ?? (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const fallback = Boolean(
      (info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined)?.isFallbackAdapter ||
        (adapter as (GPUAdapter & { isFallbackAdapter?: boolean }) | null)?.isFallbackAdapter ||
        /swiftshader|warp|llvmpipe/i.test(`${info?.vendor ?? ''} ${info?.architecture ?? ''} ${info?.description ?? ''}`),
    );
    this.adapterInfo = {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description ?? '',
      isFallbackAdapter: fallback,
    };
    const l = device.limits;
    this.caps = {
      f16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
      isFallbackAdapter: fallback,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxStorageBufferBindingSize: effectiveLimit(l.maxStorageBufferBindingSize, limits?.maxStorageBufferBindingSize, 'maxStorageBufferBindingSize'),
      maxBufferSize: effectiveLimit(l.maxBufferSize, limits?.maxBufferSize, 'maxBufferSize'),
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    };
    device.lost.then((info) => {
      if (!this.disposed) this.lostError ??= new DeviceLostError(info.reason ?? 'unknown', info.message || 'no detail');
    });
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.lostError ??= new DeviceLostError('uncaptured-error', error.message);
    });
    this.zero = this.createBuffer('zero', 16, GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM);
  }

  static async acquire(options: AcquireOptions = {}): Promise<GpuContext> {
    if (options.device) return new GpuContext(options.device, null, false, options.limits);
    const gpu = options.gpu ?? (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
    if (!gpu) {
      throw new WebGPUUnavailableError(
        typeof window === 'undefined'
          ? 'no GPU object was given (in Node pass `gpu` from createNodeGpu() of "mmdit-webgpu/node")'
          : 'navigator.gpu is undefined (WebGPU needs a secure context: https or localhost)',
      );
    }
    let adapter: GPUAdapter | null;
    try {
      adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
    } catch (cause) {
      throw new WebGPUUnavailableError('requestAdapter() failed', { cause });
    }
    if (!adapter) throw new WebGPUUnavailableError('no WebGPU adapter was found (requestAdapter() returned null)');
    const disabled = new Set(options.disableFeatures ?? []);
    const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f));
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({
        requiredFeatures: features as GPUFeatureName[],
        requiredLimits: requiredLimits(adapter),
      });
    } catch (cause) {
      throw new WebGPUUnavailableError('requestDevice() failed', { cause });
    }
    return new GpuContext(device, adapter, true, options.limits);
  }

  /**
   * Throws the device-lost error, or DisposedError, when the context can no longer be used; and,
   * once, the GpuOutOfMemoryError of an allocation that failed since the last report (its buffer
   * is invalid, so work using it must not be queued).
   */
  assertUsable(): void {
    if (this.disposed) throw new DisposedError('GpuContext');
    if (this.lostError) throw this.lostError;
    this.throwOutOfMemory();
  }

  /**
   * Waits for the out-of-memory checks of the buffers created so far and throws
   * GpuOutOfMemoryError (naming the buffer and its size) when one of them could not be allocated.
   * WebGPU reports allocation failures asynchronously; callers that allocate in bulk (graph
   * compilation, weight upload) await this before handing their buffers out.
   */
  async checkAllocations(): Promise<void> {
    while (this.allocationChecks.size > 0) await Promise.all([...this.allocationChecks]);
    this.throwOutOfMemory();
  }

  private throwOutOfMemory(): void {
    const error = this.outOfMemory;
    if (!error) return;
    this.outOfMemory = null;
    throw error;
  }

  get lost(): DeviceLostError | null {
    return this.lostError;
  }

  /** The shared 16-byte buffer bound in place of absent optional inputs. */
  get zeroBuffer(): GPUBuffer {
    return this.zero;
  }

  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    this.assertUsable();
    const bytes = Math.max(16, Math.ceil(size / 16) * 16);
    const big = bytes > OOM_SCOPE_BYTES;
    if (big) this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    if (big) {
      const check = this.device.popErrorScope().then(
        (error) => {
          if (error) this.outOfMemory ??= new GpuOutOfMemoryError(label, bytes, { cause: error.message });
        },
        () => undefined, // the device is lost: `lost` reports that
      );
      this.allocationChecks.add(check);
      void check.finally(() => this.allocationChecks.delete(check));
    }
    this.memory.allocate(buffer, bytes);
    return buffer;
  }

  destroyBuffer(buffer: GPUBuffer): void {
    this.memory.release(buffer);
    buffer.destroy();
  }

  /** Uploads `data` at `offset` in chunks of at most 64 MiB (large writeBuffer calls stall or fail). */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.assertUsable();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const chunk = 64 * 1024 * 1024;
    for (let at = 0; at < bytes.byteLength; at += chunk) {
      const piece = bytes.subarray(at, Math.min(bytes.byteLength, at + chunk));
      this.device.queue.writeBuffer(buffer, offset + at, piece as Uint8Array<ArrayBuffer>);
    }
  }

  /** Reads `size` bytes at `offset` through a staging buffer (debug reads, tests, the final image). */
  async read(buffer: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    this.assertUsable();
    this.readbacks++;
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.createBuffer('readback', padded, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const encoder = this.device.createCommandEncoder({ label: 'readback' });
      encoder.copyBufferToBuffer(buffer, offset, staging, 0, padded);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      this.assertUsable();
      return staging.getMappedRange().slice(0, size);
    } finally {
      this.destroyBuffer(staging);
    }
  }

  /**
   * Several ranges in one readback: one staging buffer, one submit, one map — a result and the
   * small check that guards it come back together. Offsets and sizes are multiples of 4.
   */
  async readMany(ranges: readonly { readonly buffer: GPUBuffer; readonly offset: number; readonly size: number }[]): Promise<ArrayBuffer[]> {
    this.assertUsable();
    this.readbacks++;
    const total = ranges.reduce((a, r) => a + Math.ceil(r.size / 4) * 4, 0);
    const staging = this.createBuffer('readback', Math.max(4, total), GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    try {
      const encoder = this.device.createCommandEncoder({ label: 'readback' });
      let at = 0;
      for (const r of ranges) {
        const padded = Math.ceil(r.size / 4) * 4;
        encoder.copyBufferToBuffer(r.buffer, r.offset, staging, at, padded);
        at += padded;
      }
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      this.assertUsable();
      const mapped = staging.getMappedRange();
      at = 0;
      return ranges.map((r) => {
        const out = mapped.slice(at, at + r.size);
        at += Math.ceil(r.size / 4) * 4;
        return out;
      });
    } finally {
      this.destroyBuffer(staging);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.memory.releaseAll();
    if (this.ownsDevice) this.device.destroy();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
