import { describe, expect, it } from 'vitest';
import { GpuOutOfMemoryError } from '../../../src/errors.js';
import { GpuContext } from '../../../src/gpu/device.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { unary } from '../../../src/kernels/elementwise.js';
import { PipelineCache } from '../../../src/shader/pipeline-cache.js';
import { recordGpuRun, testGpu } from '../../setup/gpu.js';

/**
 * The test device's own device, except that every out-of-memory error scope reports a
 * GPUOutOfMemoryError, as a device out of memory does (no real allocation has to fail, which on
 * SwiftShader would mean exhausting the host's memory).
 */
function deviceOutOfMemory(real: GPUDevice): GPUDevice {
  const scopes: GPUErrorFilter[] = [];
  return new Proxy(real, {
    get(target, key) {
      if (key === 'pushErrorScope') {
        return (filter: GPUErrorFilter) => {
          scopes.push(filter);
          target.pushErrorScope(filter);
        };
      }
      if (key === 'popErrorScope') {
        return async () => {
          const filter = scopes.pop();
          const real = await target.popErrorScope();
          return filter === 'out-of-memory' ? new GPUOutOfMemoryError('fake: not enough memory') : real;
        };
      }
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('GpuOutOfMemoryError', () => {
  it('a graph whose buffer the device cannot allocate rejects with GpuOutOfMemoryError naming it, and frees the rest', async () => {
    const { ctx: shared } = await testGpu();
    const ctx = await GpuContext.acquire({ device: deviceOutOfMemory(shared.device) });
    try {
      const cache = new PipelineCache(ctx);
      const b = new GraphBuilder(ctx.caps, 'f32');
      // 17 Mi f32 = 68 MiB: above the 64 MiB from which allocations run in an out-of-memory scope.
      b.output('y', unary(b, 'silu', b.input('big', [17 * 2 ** 20])));
      const before = ctx.memory.liveBuffers;
      const error = await compileGraph(ctx, cache, b).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GpuOutOfMemoryError);
      expect((error as GpuOutOfMemoryError).label).toBe('big');
      expect((error as GpuOutOfMemoryError).bytes).toBe(17 * 2 ** 22);
      expect((error as Error).message).toMatch(/Out of GPU memory allocating 71303168 bytes for "big"/);
      expect((error as Error).cause).toBe('fake: not enough memory');
      expect(ctx.memory.liveBuffers).toBe(before);

      // Reported once: the context stays usable for work that fits.
      const small = new GraphBuilder(ctx.caps, 'f32');
      small.output('y', unary(small, 'affine', small.input('x', [4]), { alpha: 2, beta: 1 }));
      const graph = await compileGraph(ctx, cache, small);
      ctx.write(graph.input('x').buffer, 0, new Float32Array([0, 1, 2, 3]));
      graph.run();
      expect([...new Float32Array(await ctx.read(graph.output('y').buffer, 0, 16))]).toEqual([1, 3, 5, 7]);
      recordGpuRun('out of memory, then a graph that fits');
      graph.dispose();
    } finally {
      ctx.dispose();
    }
  });

  it('a failed allocation outside a graph is thrown by the next use of the context', async () => {
    const { ctx: shared } = await testGpu();
    const ctx = await GpuContext.acquire({ device: deviceOutOfMemory(shared.device) });
    try {
      const first = ctx.createBuffer('weights shard', 65 * 2 ** 20, GPUBufferUsage.STORAGE);
      await expect(ctx.checkAllocations()).rejects.toThrow(/for "weights shard"/);
      ctx.destroyBuffer(first);
      // Without an explicit check, the failure surfaces at the next call once Dawn has reported it.
      const second = ctx.createBuffer('second shard', 65 * 2 ** 20, GPUBufferUsage.STORAGE);
      let thrown: unknown = null;
      for (let i = 0; i < 200 && thrown === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        try {
          ctx.assertUsable();
        } catch (error) {
          thrown = error;
        }
      }
      expect(thrown).toBeInstanceOf(GpuOutOfMemoryError);
      expect((thrown as GpuOutOfMemoryError).label).toBe('second shard');
      expect(() => ctx.assertUsable()).not.toThrow();
      ctx.destroyBuffer(second);
      // A buffer under the threshold is created without a scope, so nothing is reported.
      ctx.destroyBuffer(ctx.createBuffer('small', 1024, GPUBufferUsage.STORAGE));
      await expect(ctx.checkAllocations()).resolves.toBeUndefined();
    } finally {
      ctx.dispose();
    }
  });

  it('on the real device a large allocation passes its out-of-memory check', async () => {
    const { ctx } = await testGpu();
    const buffer = ctx.createBuffer('large', 65 * 2 ** 20, GPUBufferUsage.STORAGE);
    await expect(ctx.checkAllocations()).resolves.toBeUndefined();
    ctx.destroyBuffer(buffer);
  });
});
