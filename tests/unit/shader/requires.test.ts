import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../../../src/errors.js';
import type { KernelSpec, Precision } from '../../../src/shader/contract.js';
import { LIB, PRELUDE, PRELUDE_REQUIREMENT, kernelSources, shaderRequires } from '../../../src/shader/sources.js';
import { FORMAT_CODE } from '../../../src/tensor/tensor.js';
import { testGpu } from '../../setup/gpu.js';

const SHADERS = new URL('../../../shaders/', import.meta.url);
const entryFiles = readdirSync(SHADERS).filter((f) => f.endsWith('.wgsl')).sort();
const read = (file: string) => readFileSync(new URL(file, SHADERS), 'utf8');

const modules = import.meta.glob('../../../src/kernels/*.ts', { eager: true }) as Record<string, Record<string, unknown>>;
const specs = Object.values(modules).flatMap((m) =>
  Object.values(m).filter((v): v is KernelSpec<unknown> => typeof v === 'object' && v !== null && 'sources' in v && 'plan' in v),
);

/** The declared dependencies of an entry file, as header names. */
function declared(file: string): string[] {
  const r = shaderRequires(file, read(file));
  return [...(r.prelude ? [PRELUDE_REQUIREMENT] : []), ...r.lib];
}

function moduleOf(names: readonly string[], file: string, precision: Precision): string {
  const parts = names.map((n) => (n === PRELUDE_REQUIREMENT ? PRELUDE[precision] : LIB[n]!));
  return [...parts.map((p) => p.code), read(file)].join('\n');
}

const { ctx } = await testGpu();

async function compileErrors(code: string): Promise<string[]> {
  const info = await ctx.device.createShaderModule({ code }).getCompilationInfo();
  return info.messages.filter((m) => m.type === 'error').map((m) => m.message);
}

describe('WGSL // requires: headers', () => {
  it('finds every entry shader, and each one is the entry of a kernel descriptor', () => {
    expect(entryFiles.length).toBeGreaterThanOrEqual(20);
    const entries = new Set(specs.map((s) => s.sources.at(-1)!.file));
    expect(entryFiles.filter((f) => !entries.has(f))).toEqual([]);
  });

  it("every kernel's sources are its entry file's header: the lib files named, in order, then the file", () => {
    for (const spec of specs) {
      const entry = spec.sources.at(-1)!;
      expect(entry.code, `${spec.name}: entry text is shaders/${entry.file}`).toBe(read(entry.file));
      expect(spec.sources.map((s) => s.file), spec.name).toEqual([...shaderRequires(entry.file, entry.code).lib, entry.file]);
    }
  });

  it('every lib file is required by some entry file', () => {
    const used = new Set(entryFiles.flatMap(declared));
    expect(Object.keys(LIB).filter((f) => !used.has(f))).toEqual([]);
    const onDisk = readdirSync(new URL('lib/', SHADERS)).map((f) => `lib/${f}`).sort();
    expect(Object.keys(LIB).sort()).toEqual(onDisk);
  });

  for (const file of entryFiles) {
    it(`${file} compiles on Dawn with exactly its declared dependencies, and not without any one of them`, async () => {
      const names = declared(file);
      expect(await compileErrors(moduleOf(names, file, 'f32')), `${file} with ${names.join(', ') || 'nothing'}`).toEqual([]);
      for (const dropped of names) {
        const errors = await compileErrors(moduleOf(names.filter((n) => n !== dropped), file, 'f32'));
        expect(errors.length, `${file} without ${dropped} (declared but not needed?)`).toBeGreaterThan(0);
      }
    });
  }

  it.skipIf(!ctx.caps.f16)('every entry file also compiles with the f16 prelude (skipped: adapter lacks shader-f16)', async () => {
    for (const file of entryFiles) expect(await compileErrors(moduleOf(declared(file), file, 'f16')), file).toEqual([]);
  });

  it('weight-format switches use the FMT_* constants of lib/dequant.wgsl, which equal FORMAT_CODE', () => {
    const dequant = LIB['lib/dequant.wgsl']!.code;
    const constants = Object.fromEntries([...dequant.matchAll(/const FMT_(\w+): u32 = (\d+)u;/g)].map((m) => [m[1]!.toLowerCase(), Number(m[2])]));
    expect(constants).toEqual(FORMAT_CODE);
    for (const file of entryFiles) {
      const code = read(file);
      const magic = [
        ...code.matchAll(/switch (?:W|POS)_FORMAT \{[^]*?default:/g),
      ]
        .flatMap((m) => [...m[0].matchAll(/case ([^:]*):/g)].map((c) => c[1]!))
        .filter((selectors) => selectors.split(',').some((s) => /^\s*\d/.test(s)));
      expect(magic, `${file}: numeric cases in a format switch`).toEqual([]);
      expect(code.match(/_FORMAT [=!]= \d/g), `${file}: format compared with a number`).toBeNull();
    }
  });

  it('a header that is missing, names an unknown file or names one twice is a FileFormatError naming the shader', () => {
    expect(() => shaderRequires('x.wgsl', '// A kernel.\nfn main() {}')).toThrow(FileFormatError);
    expect(() => shaderRequires('x.wgsl', '// A kernel.\nfn main() {}')).toThrow(/shaders\/x\.wgsl: no "\/\/ requires:"/);
    expect(() => shaderRequires('x.wgsl', '// requires: lib/nope.wgsl\n')).toThrow(/"lib\/nope\.wgsl", which is not a shared module/);
    expect(() => shaderRequires('x.wgsl', '// requires: lib/index.wgsl, lib/index.wgsl\n')).toThrow(/listed twice/);
    // A requires line after the code starts is not a header.
    expect(() => shaderRequires('x.wgsl', 'fn f() {}\n// requires: none\n')).toThrow(FileFormatError);
    expect(kernelSources('x.wgsl', '// requires: none\nfn f() {}').map((s) => s.file)).toEqual(['x.wgsl']);
  });
});
