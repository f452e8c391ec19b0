import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../../src/gpu/device.js';
import { DeviceLostError, DisposedError, InvalidArgumentError, LimitExceededError, WebGPUUnavailableError } from '../../../src/errors.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { unary } from '../../../src/kernels/elementwise.js';
import { PipelineCache } from '../../../src/shader/pipeline-cache.js';
import { Profiler } from '../../../src/runtime/profiler.js';
import { BufferPool } from '../../../src/gpu/buffer-pool.js';
import { createNodeGpu } from '../../../src/node/dawn.js';
import { cappedTestGpu, recordGpuRun, testGpu } from '../../setup/gpu.js';

describe('GpuContext', () => {
  it('without a GPU object outside a browser, throws WebGPUUnavailableError saying what to pass', async () => {
    await expect(GpuContext.acquire()).rejects.toThrow(WebGPUUnavailableError);
    await expect(GpuContext.acquire()).rejects.toThrow(/createNodeGpu/);
  });

  it('when no adapter exists, throws WebGPUUnavailableError', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(GpuContext.acquire({ gpu })).rejects.toThrow(/no WebGPU adapter/);
  });

  it('requests the adapter maxima for buffer and binding sizes', async () => {
    const { ctx } = await testGpu();
    expect(ctx.device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(ctx.caps.maxStorageBufferBindingSize).toBe(ctx.device.limits.maxStorageBufferBindingSize);
    expect(ctx.caps.timestampQuery).toBe(ctx.device.features.has('timestamp-query'));
  });

  it('the CI adapter lacks shader-f16, so the f16 tests report "not run" there and must run elsewhere', async () => {
    const { ctx } = await testGpu();
    if (ctx.adapterInfo.architecture === 'swiftshader') expect(ctx.caps.f16).toBe(false);
    else console.log(`adapter ${ctx.adapterInfo.architecture}: shader-f16 ${ctx.caps.f16}`);
  });

  it('rejects an engine cap below 1 KiB naming the limit', async () => {
    await expect(cappedTestGpu({ maxStorageBufferBindingSize: 12 })).rejects.toThrow(InvalidArgumentError);
  });

  it('a graph value over the engine binding cap is a LimitExceededError naming the limit, before any allocation', async () => {
    const gpu = await cappedTestGpu({ maxStorageBufferBindingSize: 4096 });
    try {
      const b = new GraphBuilder(gpu.ctx.caps, 'f32');
      b.output('y', unary(b, 'silu', b.input('x', [2048])));
      const before = gpu.ctx.memory.liveBuffers;
      const error = await compileGraph(gpu.ctx, gpu.cache, b).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LimitExceededError);
      expect((error as LimitExceededError).limit).toBe('maxStorageBufferBindingSize');
      expect((error as Error).message).toContain('8192');
      expect(gpu.ctx.memory.liveBuffers).toBe(before);
    } finally {
      gpu.ctx.dispose();
    }
  });

  it('after the device is lost every call throws DeviceLostError, and a new context works', async () => {
    const node = createNodeGpu();
    const ctx = await GpuContext.acquire({ gpu: node.gpu });
    ctx.device.destroy();
    await ctx.device.lost;
    expect(() => ctx.createBuffer('x', 16, GPUBufferUsage.STORAGE)).toThrow(DeviceLostError);
    const fresh = await GpuContext.acquire({ gpu: node.gpu });
    const cache = new PipelineCache(fresh);
    const b = new GraphBuilder(fresh.caps, 'f32');
    b.output('y', unary(b, 'affine', b.input('x', [4]), { alpha: 2, beta: 1 }));
    const graph = await compileGraph(fresh, cache, b);
    fresh.write(graph.input('x').buffer, 0, new Float32Array([0, 1, 2, 3]));
    graph.run();
    expect([...new Float32Array(await fresh.read(graph.output('y').buffer, 0, 16))]).toEqual([1, 3, 5, 7]);
    recordGpuRun('device recovery');
    fresh.dispose();
    expect(() => fresh.assertUsable()).toThrow(DisposedError);
  });

  it('disposing a compiled graph returns the memory it allocated', async () => {
    const { ctx, cache } = await testGpu();
    const before = ctx.memory.currentBytes;
    const b = new GraphBuilder(ctx.caps, 'f32');
    const x = b.input('x', [1000]);
    b.output('y', unary(b, 'silu', unary(b, 'gelu_tanh', unary(b, 'silu', x))));
    const graph = await compileGraph(ctx, cache, b);
    expect(ctx.memory.currentBytes).toBeGreaterThan(before);
    graph.dispose();
    graph.dispose();
    expect(ctx.memory.currentBytes).toBe(before);
    expect(() => graph.run()).toThrow(DisposedError);
  });

  it('plans temps into shared slots: a chain of 3 ops needs 2 temp buffers, not 3', async () => {
    const { ctx } = await testGpu();
    const { planBufferSlots } = await import('../../../src/graph/plan.js');
    const b = new GraphBuilder(ctx.caps, 'f32');
    const x = b.input('x', [256]);
    b.output('y', unary(b, 'silu', unary(b, 'silu', unary(b, 'silu', unary(b, 'silu', x)))));
    expect(planBufferSlots(b, 'f32').slotBytes.length).toBe(2);
  });

  it('the profiler times every dispatch (timestamp queries when present)', async () => {
    const { ctx, cache } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32');
    b.output('y', unary(b, 'silu', unary(b, 'gelu_tanh', b.input('x', [4096]))));
    const graph = await compileGraph(ctx, cache, b);
    const times = await new Profiler(ctx).profile(graph);
    expect(times.map((t) => t.label)).toEqual(['gelu_tanh', 'silu']);
    expect(times.every((t) => t.ms >= 0 && t.source === (ctx.caps.timestampQuery ? 'gpu' : 'cpu'))).toBe(true);
    recordGpuRun('profiler');
    graph.dispose();
  });

  it('the buffer pool reuses released buffers by size class and frees them on dispose', async () => {
    const { ctx } = await testGpu();
    const before = ctx.memory.currentBytes;
    const pool = new BufferPool(ctx);
    const a = pool.acquire(1000, GPUBufferUsage.STORAGE);
    pool.release(a);
    expect(pool.acquire(900, GPUBufferUsage.STORAGE)).toBe(a);
    expect(pool.acquire(900, GPUBufferUsage.STORAGE)).not.toBe(a);
    pool.dispose();
    expect(ctx.memory.currentBytes).toBe(before);
  });
});
