import { describe, expect, it, vi } from 'vitest';
import { DisposedError, InvalidArgumentError } from '../../../src/errors.js';
import { GraphBuilder, type Value } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { planBufferSlots } from '../../../src/graph/plan.js';
import { binary, unary } from '../../../src/kernels/elementwise.js';
import { readTensor } from '../../../src/tensor/read.js';
import { recordGpuRun, testGpu } from '../../setup/gpu.js';

/** y = ((x·1 + 1)·2 + 2)·3 + 3 ...: each dispatch has its own alpha/beta in the uniform arena. */
function affineChain(b: GraphBuilder, x: Value, steps: number): Value {
  let v = x;
  for (let i = 1; i <= steps; i++) v = unary(b, 'affine', v, { alpha: i, beta: i });
  return v;
}

function affineChainRef(x: Float32Array, steps: number): Float64Array {
  return Float64Array.from(x, (v) => {
    let r = v;
    for (let i = 1; i <= steps; i++) r = i * r + i;
    return r;
  });
}

describe('compileGraph', () => {
  it('gives every dispatch its own Params in one uniform buffer, and buffers only for slots and named values', async () => {
    const { ctx, cache } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32');
    const steps = 6;
    b.output('y', affineChain(b, b.input('x', [40]), steps));
    const slots = planBufferSlots(b, 'f32').slotBytes.length;
    const before = ctx.memory.liveBuffers;
    const graph = await compileGraph(ctx, cache, b);
    // slots + input + output + one uniform arena (not one uniform buffer per dispatch).
    expect(ctx.memory.liveBuffers - before).toBe(slots + 2 + 1);
    expect(graph.dispatches).toHaveLength(steps);
    const x = Float32Array.from({ length: 40 }, (_, i) => i / 8 - 2);
    ctx.write(graph.input('x').buffer, 0, x);
    graph.run();
    const y = await readTensor(ctx, graph.output('y'));
    const ref = affineChainRef(x, steps);
    for (let i = 0; i < 40; i++) expect(y[i]).toBeCloseTo(ref[i] as number, 2);
    recordGpuRun('graph uniform arena');
    graph.dispose();
    expect(ctx.memory.liveBuffers).toBe(before);
  });

  it('replays with new inputs without creating buffers, bind groups or pipelines', async () => {
    const { ctx, cache } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32');
    const x = b.input('x', [300]);
    b.output('y', binary(b, 'mul', unary(b, 'silu', x), unary(b, 'affine', x, { alpha: 0.5, beta: 1 })));
    const graph = await compileGraph(ctx, cache, b);
    const createBuffer = vi.spyOn(ctx.device, 'createBuffer');
    const createBindGroup = vi.spyOn(ctx.device, 'createBindGroup');
    const createPipeline = vi.spyOn(ctx.device, 'createComputePipelineAsync');
    const bytes = ctx.memory.currentBytes;
    try {
      for (const seed of [1, 2, 3]) {
        const input = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * seed));
        ctx.write(graph.input('x').buffer, 0, input);
        graph.run();
        const y = await readTensor(ctx, graph.output('y'));
        const expected = Float64Array.from(input, (v) => (v / (1 + Math.exp(-v))) * (0.5 * v + 1));
        for (let i = 0; i < 300; i += 37) expect(y[i]).toBeCloseTo(expected[i] as number, 5);
      }
      // Reading the output back allocates its own staging buffers; running allocates nothing.
      const runOnly = createBuffer.mock.calls.filter(([d]) => d.label !== 'readback');
      expect(createBuffer.mock.calls.length).toBe(3);
      expect(runOnly).toEqual([]);
      expect(createBindGroup).not.toHaveBeenCalled();
      expect(createPipeline).not.toHaveBeenCalled();
      expect(ctx.memory.currentBytes).toBe(bytes);
      recordGpuRun('graph replay');
    } finally {
      createBuffer.mockRestore();
      createBindGroup.mockRestore();
      createPipeline.mockRestore();
      graph.dispose();
    }
  });

  it('reuses the pipeline of an identical dispatch across graphs (the cache key is the variant)', async () => {
    const { ctx, cache } = await testGpu();
    const make = () => {
      const b = new GraphBuilder(ctx.caps, 'f32');
      b.output('y', unary(b, 'quick_gelu', b.input('x', [8])));
      return b;
    };
    const first = await compileGraph(ctx, cache, make());
    const size = cache.size;
    const second = await compileGraph(ctx, cache, make());
    expect(cache.size).toBe(size);
    expect(second.dispatches[0]!.pipeline).toBe(first.dispatches[0]!.pipeline);
    first.dispose();
    second.dispose();
  });

  it('writes constants once, keeps taps readable when asked, and shares a given step buffer', async () => {
    const { ctx, cache } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32', true);
    const k = b.constant('k', [4], 'f32', new Float32Array([10, 20, 30, 40]));
    const t = b.tap('sum', binary(b, 'add', b.input('x', [4]), k));
    b.output('y', unary(b, 'affine', t, { alpha: 2, beta: 0 }));
    b.stepState();
    const owner = await compileGraph(ctx, cache, b);
    expect(owner.stepStateBuffer).not.toBeNull();
    ctx.write(owner.input('x').buffer, 0, new Float32Array([1, 2, 3, 4]));
    owner.run();
    expect([...(await readTensor(ctx, owner.taps.get('sum')!))]).toEqual([11, 22, 33, 44]);
    expect([...(await readTensor(ctx, owner.output('y')))]).toEqual([22, 44, 66, 88]);

    const c = new GraphBuilder(ctx.caps, 'f32');
    c.output('y', unary(c, 'silu', c.input('x', [4])));
    c.stepState();
    const sharer = await compileGraph(ctx, cache, c, { stepBuffer: owner.stepStateBuffer });
    expect(sharer.stepStateBuffer).toBe(owner.stepStateBuffer);
    sharer.dispose();
    owner.dispose();
    recordGpuRun('graph constants and taps');
  });

  it('names what is wrong: unknown inputs and outputs, dispatch indices, operand counts, shapes, reuse after dispose', async () => {
    const { ctx, cache } = await testGpu();
    const b = new GraphBuilder(ctx.caps, 'f32');
    const x = b.input('x', [4]);
    b.output('y', unary(b, 'silu', x));
    expect(() => b.input('x', [4])).toThrow(InvalidArgumentError);
    expect(() => b.temp([4, 0], 'empty')).toThrow(/shape of empty/);
    expect(() => b.temp([2.5], 'fractional')).toThrow(InvalidArgumentError);
    const { elementwiseKernel } = await import('../../../src/kernels/elementwise.js');
    expect(() => b.dispatch(elementwiseKernel, { op: 'copy', n: 4, bPeriod: 1, alpha: 1, beta: 0 }, [x, null])).toThrow(/elementwise bindings/);

    const graph = await compileGraph(ctx, cache, b);
    expect(() => graph.input('z')).toThrow(InvalidArgumentError);
    expect(() => graph.input('z')).toThrow(/graph input name: allowed one of "x", received "z"/);
    expect(() => graph.output('x')).toThrow(/allowed one of "y"/);
    const encoder = ctx.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    expect(() => graph.encodeDispatch(pass, 1)).toThrow(/dispatch index: allowed an integer in \[0, 0\], received 1/);
    graph.encodeDispatch(pass, 0);
    pass.end();
    ctx.device.queue.submit([encoder.finish()]);
    graph.dispose();
    expect(() => graph.run()).toThrow(DisposedError);
    expect(() => graph.setStep(1)).toThrow(DisposedError);
  });
});
