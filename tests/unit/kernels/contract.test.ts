import { describe, expect, it } from 'vitest';
import { pipelineKey, type KernelSpec } from '../../../src/shader/contract.js';
import { linear } from '../../../src/kernels/matmul.js';
import { expectClose } from '../../reference/compare.js';
import { matmulRef } from '../../reference/ops.js';
import { randomArray } from '../../reference/random.js';
import { recordGpuRun, testGpu } from '../../setup/gpu.js';
import { f32Weight } from '../../setup/run-graph.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { readTensor } from '../../../src/tensor/read.js';

const modules = import.meta.glob('../../../src/kernels/*.ts', { eager: true }) as Record<string, Record<string, unknown>>;

function isSpec(v: unknown): v is KernelSpec<unknown> {
  return typeof v === 'object' && v !== null && 'sources' in v && 'bindings' in v && 'params' in v && 'plan' in v;
}

const specs = Object.values(modules).flatMap((m) => Object.values(m).filter(isSpec));

/** Fields of the entry shader's `struct Params`, in order. */
function wgslParams(code: string): [string, string][] {
  const body = /struct\s+Params\s*\{([^}]*)\}/.exec(code)?.[1] ?? '';
  return body
    .split(/[,\n]/)
    .map((l) => l.replace(/\/\/.*$/, '').trim())
    .filter(Boolean)
    .map((l) => l.split(':').map((s) => s.trim()) as [string, string]);
}

describe('kernel contract', () => {
  it('finds the kernel descriptors', () => {
    expect(specs.map((s) => s.name)).toEqual(expect.arrayContaining(['matmul', 'attention', 'layer_norm', 'rms_norm', 'elementwise']));
  });

  for (const spec of specs) {
    // The entry file or a lib file it requires (matmul's lib/matmul_io.wgsl) declares them.
    const code = spec.sources.map((s) => s.code).join('\n');

    it(`${spec.name}: the WGSL struct Params equals the descriptor's params`, () => {
      expect(code.match(/struct\s+Params\b/g)?.length, 'one struct Params').toBe(1);
      expect(wgslParams(code)).toEqual(spec.params.map(([n, t]) => [n, t]));
    });

    it(`${spec.name}: the WGSL binds ${spec.bindings.length} buffers in descriptor order, then params`, () => {
      const found = [...code.matchAll(/@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)/g)].map((m) => [Number(m[1]), m[2]!.replace(/\s/g, ''), m[3]]);
      const expected = spec.bindings.map((b, i) => [i, b.access === 'read' ? 'storage,read' : 'storage,read_write', b.name]);
      expected.push([spec.bindings.length, 'uniform', 'params']);
      expect(found).toEqual(expected);
    });

    it(`${spec.name}: its f32 shader module compiles without errors on Dawn`, async () => {
      const { ctx } = await testGpu();
      const { moduleParts } = await import('../../../src/shader/sources.js');
      const module = moduleParts(spec.sources, 'f32').map((s) => s.code).join('\n');
      const info = await ctx.device.createShaderModule({ code: module }).getCompilationInfo();
      expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
    });
  }

  it('derives the pipeline key from the sorted constants', () => {
    expect(pipelineKey('matmul', { precision: 'f32', constants: { WG_Y: 4, A: 1 } })).toBe('matmul/f32/A=1,WG_Y=4');
  });

  it('the workgroup-tiled matmul path (used on real GPUs) matches the reference', async () => {
    const gpu = await testGpu();
    const [m, n, k] = [70, 130, 45];
    const x = randomArray(m * k, 1);
    const w = randomArray(n * k, 2);
    const weight = f32Weight(gpu, 'w', [n, k], w);
    // Present the adapter as a GPU so variant() picks the shared-memory tiles.
    const b = new GraphBuilder({ ...gpu.ctx.caps, isFallbackAdapter: false }, 'f32');
    b.output('y', linear(b, b.input('x', [m, k]), weight));
    const graph = await compileGraph(gpu.ctx, gpu.cache, b);
    expect(graph.dispatches[0]?.pipeline.label).toContain('USE_SHARED=1');
    gpu.ctx.write(graph.input('x').buffer, 0, x);
    graph.run();
    expectClose(await readTensor(gpu.ctx, graph.output('y')), matmulRef(Float64Array, x, w, m, n, k), { atol: 2e-5, rtol: 2e-5 }, 'tiled matmul');
    graph.dispose();
    recordGpuRun("matmul tiled");
  });
});
