import f16Prelude from '../../shaders/prelude/f16.wgsl?raw';
import f32Prelude from '../../shaders/prelude/f32.wgsl?raw';
import activationsWgsl from '../../shaders/lib/activations.wgsl?raw';
import dequantWgsl from '../../shaders/lib/dequant.wgsl?raw';
import indexWgsl from '../../shaders/lib/index.wgsl?raw';
import matmulIoWgsl from '../../shaders/lib/matmul_io.wgsl?raw';
import { FileFormatError } from '../errors.js';
import type { Precision, WgslModule } from './contract.js';

/**
 * The shared WGSL modules. Kernel files import their own entry shader with `?raw` next to their
 * descriptor, so Vite inlines every shader into the bundle and nothing is fetched at run time.
 */
export const PRELUDE: Readonly<Record<Precision, WgslModule>> = {
  f32: { file: 'prelude/f32.wgsl', code: f32Prelude },
  f16: { file: 'prelude/f16.wgsl', code: f16Prelude },
};

/** The lib modules by their path under shaders/, as `// requires:` headers name them. */
export const LIB: Readonly<Record<string, WgslModule>> = Object.fromEntries(
  [
    { file: 'lib/activations.wgsl', code: activationsWgsl },
    { file: 'lib/dequant.wgsl', code: dequantWgsl },
    { file: 'lib/index.wgsl', code: indexWgsl },
    { file: 'lib/matmul_io.wgsl', code: matmulIoWgsl },
  ].map((m) => [m.file, m]),
);

/** How a header names the precision prelude (prelude/f32.wgsl or prelude/f16.wgsl, by the compute precision). */
export const PRELUDE_REQUIREMENT = 'prelude/<precision>.wgsl';

/** What an entry shader's `// requires:` header names. */
export interface ShaderRequires {
  readonly prelude: boolean;
  /** Lib files in header order (the order they are concatenated in). */
  readonly lib: readonly string[];
}

/**
 * Reads the `// requires: prelude/<precision>.wgsl, lib/a.wgsl, ...` line (or `// requires: none`)
 * of the leading comment block of a WGSL entry file. The header is the one list of what the file
 * needs: kernel sources come from it, and a test compiles each file with exactly these.
 */
export function shaderRequires(file: string, code: string): ShaderRequires {
  const where = `shaders/${file}`;
  let header: string | null = null;
  for (const line of code.split('\n')) {
    const text = line.trim();
    if (text === '') continue;
    if (!text.startsWith('//')) break;
    const match = /^\/\/\s*requires:(.*)$/.exec(text);
    if (match) {
      header = match[1]!.trim();
      break;
    }
  }
  if (header === null) throw new FileFormatError(where, `no "// requires:" line in its leading comments (name the prelude and lib files it needs, or "none")`);
  if (header === 'none') return { prelude: false, lib: [] };
  const names = header.split(',').map((s) => s.trim());
  const lib: string[] = [];
  let prelude = false;
  for (const name of names) {
    if (name === PRELUDE_REQUIREMENT && !prelude) prelude = true;
    else if (Object.hasOwn(LIB, name) && !lib.includes(name)) lib.push(name);
    else {
      throw new FileFormatError(
        where,
        `"// requires:" names "${name}", which is ${names.indexOf(name) !== names.lastIndexOf(name) ? 'listed twice' : 'not a shared module'} ` +
          `(allowed: ${[PRELUDE_REQUIREMENT, ...Object.keys(LIB)].join(', ')}, or "none" alone)`,
      );
    }
  }
  return { prelude, lib };
}

/** A kernel's sources as its entry file's header names them: the lib files, then the entry file. */
export function kernelSources(file: string, code: string): readonly WgslModule[] {
  const { lib } = shaderRequires(file, code);
  return [...lib.map((name) => LIB[name]!), { file, code }];
}

/** The whole module text for one precision: prelude (when required), lib files, entry file. */
export function moduleParts(sources: readonly WgslModule[], precision: Precision): readonly WgslModule[] {
  const entry = sources.at(-1);
  if (!entry) return [];
  return shaderRequires(entry.file, entry.code).prelude ? [PRELUDE[precision], ...sources] : sources;
}
