import type { GpuContext } from '../gpu/device.js';
import { DisposedError } from '../errors.js';
import { PipelineCache } from '../shader/pipeline-cache.js';
import { GraphCache, type GraphCacheOptions } from './graph-cache.js';

export interface RuntimeOptions {
  /** Budget of the one graph cache (default 2 GiB of compiled graphs' buffers). */
  readonly graphCacheBytes?: number;
  /** Share pipelines with another runtime on the same device. */
  readonly pipelines?: PipelineCache;
  /**
   * Hold f16/bf16 weights as f32 on the GPU (decoded exactly at load; see weights/format-rule.ts).
   * Default: on CPU-emulation adapters (`isFallbackAdapter`) only, where memory is plentiful and
   * the in-kernel half decode is the matmul's main cost; never on GPUs.
   */
  readonly widenHalfWeights?: boolean;
}

/**
 * What every component runs on: the device, one pipeline cache and one graph cache. Components
 * (denoiser, CLIP, T5, VAE) are loaded onto a runtime and compile their graphs into its cache, so
 * one byte budget covers all of them and graphs that bind each other's buffers (conditioning,
 * sampler updates) are freed together.
 */
export class Runtime implements Disposable {
  readonly pipelines: PipelineCache;
  readonly graphs: GraphCache;
  /** Whether weights stored as f16/bf16 are held as f32 (RuntimeOptions.widenHalfWeights). */
  readonly widenHalfWeights: boolean;
  private disposed = false;

  constructor(
    readonly ctx: GpuContext,
    o: RuntimeOptions = {},
  ) {
    this.pipelines = o.pipelines ?? new PipelineCache(ctx);
    const cacheOptions: GraphCacheOptions = o.graphCacheBytes !== undefined ? { maxBytes: o.graphCacheBytes } : {};
    this.graphs = new GraphCache(cacheOptions);
    this.widenHalfWeights = o.widenHalfWeights ?? ctx.caps.isFallbackAdapter;
  }

  /** Throws when the runtime was disposed or its device lost. */
  assertUsable(): void {
    if (this.disposed) throw new DisposedError('Runtime');
    this.ctx.assertUsable();
  }

  /** Frees every cached graph (components stay loaded; the device stays the caller's). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.graphs.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A runtime on `ctx` (see Runtime). */
export function createRuntime(ctx: GpuContext, o: RuntimeOptions = {}): Runtime {
  return new Runtime(ctx, o);
}
