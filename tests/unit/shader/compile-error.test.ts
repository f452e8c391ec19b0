import { describe, expect, it } from 'vitest';
import { ShaderCompilationError } from '../../../src/errors.js';
import { elementwiseKernel, type ElementwiseArgs } from '../../../src/kernels/elementwise.js';
import type { KernelSpec, WgslModule } from '../../../src/shader/contract.js';
import { PipelineCache } from '../../../src/shader/pipeline-cache.js';
import { testGpu } from '../../setup/gpu.js';

/** `module` with `line` (1-based, found by its text) replaced. */
function breakLine(module: WgslModule, find: string, replacement: string): { module: WgslModule; line: number } {
  const lines = module.code.split('\n');
  const index = lines.findIndex((l) => l.includes(find));
  expect(index, `${module.file} has a line with "${find}"`).toBeGreaterThanOrEqual(0);
  lines[index] = replacement;
  return { module: { file: module.file, code: lines.join('\n') }, line: index + 1 };
}

const ARGS: ElementwiseArgs = { op: 'silu', n: 4, bPeriod: 1, alpha: 1, beta: 0 };

async function compileError(spec: KernelSpec<ElementwiseArgs>): Promise<ShaderCompilationError> {
  const { ctx } = await testGpu();
  // A cache of its own: modules are cached by file names, and these texts differ from the files.
  const cache = new PipelineCache(ctx);
  const error = await cache.get(spec, spec.variant(ARGS, ctx.caps, 'f32')).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ShaderCompilationError);
  // The invalid module was caught in a scope: the context is still usable.
  expect(() => ctx.assertUsable()).not.toThrow();
  return error as ShaderCompilationError;
}

describe('shader compile errors', () => {
  it('an error in an entry file points at shaders/<file>:<line> of that file, past the prelude and lib files', async () => {
    const entry = elementwiseKernel.sources.at(-1)!;
    const { module, line } = breakLine(entry, 'let x = f32(a[i]);', '  let x = f32(a[i]) + not_declared_anywhere;');
    const error = await compileError({ ...elementwiseKernel, sources: [...elementwiseKernel.sources.slice(0, -1), module] });
    expect(error.kernel).toBe('elementwise');
    expect(error.messages[0]).toMatchObject({ file: 'shaders/elementwise.wgsl', line });
    expect(error.messages[0]!.text).toMatch(/not_declared_anywhere/);
    expect(error.message).toContain(`shaders/elementwise.wgsl:${line}:`);
    // The line is counted in the file, not in the concatenated module (prelude and two lib files before it).
    expect(line).toBeLessThan(40);
  });

  it('an error in a lib file points at shaders/lib/<file>:<line>', async () => {
    const lib = elementwiseKernel.sources.find((s) => s.file === 'lib/activations.wgsl')!;
    const { module, line } = breakLine(lib, 'return x / (1.0 + exp(-x));', '  return x / (1.0 + exp(-x)) + 1u;');
    const error = await compileError({ ...elementwiseKernel, sources: elementwiseKernel.sources.map((s) => (s === lib ? module : s)) });
    expect(error.messages[0]).toMatchObject({ file: 'shaders/lib/activations.wgsl', line });
    expect(error.message).toContain(`shaders/lib/activations.wgsl:${line}:`);
  });
});
