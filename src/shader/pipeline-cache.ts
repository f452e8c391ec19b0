import type { GpuContext } from '../gpu/device.js';
import { InvalidArgumentError, ShaderCompilationError, type ShaderMessage } from '../errors.js';
import { type KernelSpec, type Precision, type Variant, pipelineKey } from './contract.js';
import { moduleParts } from './sources.js';

export interface CompiledKernel {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

interface ModuleEntry {
  readonly module: GPUShaderModule;
  readonly files: readonly { file: string; firstLine: number; lines: number }[];
  /** The validation scope around createShaderModule (an invalid module must not lose the device). */
  readonly validation: Promise<GPUError | null>;
  checked?: Promise<void>;
}

/**
 * Two-level cache: one shader module per (precision, sources), one pipeline per variant key.
 * Shaders are the concatenation prelude + lib modules + entry file, as the entry file's
 * `// requires:` header names them (src/shader/sources.ts), never edited; compile
 * messages are mapped back to `shaders/<file>:<line>`.
 */
export class PipelineCache {
  private readonly modules = new Map<string, ModuleEntry>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pipelines = new Map<string, Promise<CompiledKernel>>();

  constructor(private readonly ctx: GpuContext) {}

  get size(): number {
    return this.pipelines.size;
  }

  get<Args>(spec: KernelSpec<Args>, variant: Variant): Promise<CompiledKernel> {
    const key = pipelineKey(spec.name, variant);
    let entry = this.pipelines.get(key);
    if (!entry) {
      entry = this.create(spec, variant, key);
      this.pipelines.set(key, entry);
      entry.catch(() => this.pipelines.delete(key));
    }
    return entry;
  }

  private async create<Args>(spec: KernelSpec<Args>, variant: Variant, key: string): Promise<CompiledKernel> {
    this.ctx.assertUsable();
    if (variant.precision === 'f16' && !this.ctx.caps.f16) {
      throw new InvalidArgumentError('precision', '"f32" (this adapter lacks shader-f16)', 'f16');
    }
    const entry = this.module(spec.name, spec.sources.map((s) => s.file), variant.precision, spec);
    await (entry.checked ??= this.check(entry, spec.name, key));
    const layout = this.layout(spec);
    const device = this.ctx.device;
    device.pushErrorScope('validation');
    let pipeline: GPUComputePipeline;
    try {
      pipeline = await device.createComputePipelineAsync({
        label: key,
        layout: device.createPipelineLayout({ label: key, bindGroupLayouts: [layout] }),
        compute: { module: entry.module, entryPoint: 'main', constants: { ...variant.constants } },
      });
    } catch (error) {
      await device.popErrorScope();
      throw new ShaderCompilationError(spec.name, key, [{ file: spec.sources.at(-1)?.file ?? spec.name, line: 0, text: String((error as Error).message ?? error) }]);
    }
    const validation = await device.popErrorScope();
    if (validation) {
      throw new ShaderCompilationError(spec.name, key, [{ file: spec.sources.at(-1)?.file ?? spec.name, line: 0, text: validation.message }]);
    }
    return { key, pipeline, layout };
  }

  private module<Args>(name: string, files: readonly string[], precision: Precision, spec: KernelSpec<Args>): ModuleEntry {
    const moduleKey = `${precision}|${files.join('|')}`;
    const cached = this.modules.get(moduleKey);
    if (cached) return cached;
    const parts = moduleParts(spec.sources, precision);
    const layoutOfFiles: { file: string; firstLine: number; lines: number }[] = [];
    let line = 1;
    for (const part of parts) {
      const lines = part.code.split('\n').length;
      layoutOfFiles.push({ file: part.file, firstLine: line, lines });
      line += lines;
    }
    const code = parts.map((p) => p.code).join('\n');
    // Scoped, so that a module with errors is reported as a ShaderCompilationError by `check`
    // instead of reaching the device as an uncaptured error (which would end the context).
    const device = this.ctx.device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: `${name}/${precision}`, code });
    const validation = device.popErrorScope().catch(() => null);
    const entry: ModuleEntry = { module, files: layoutOfFiles, validation };
    this.modules.set(moduleKey, entry);
    return entry;
  }

  private async check(entry: ModuleEntry, name: string, key: string): Promise<void> {
    const info = await entry.module.getCompilationInfo();
    const validation = await entry.validation;
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length === 0) {
      if (validation) throw new ShaderCompilationError(name, key, [{ file: name, line: 0, text: validation.message }]);
      return;
    }
    const messages: ShaderMessage[] = errors.map((m) => {
      const where = entry.files.find((f) => m.lineNum >= f.firstLine && m.lineNum < f.firstLine + f.lines);
      return where
        ? { file: `shaders/${where.file}`, line: m.lineNum - where.firstLine + 1, text: m.message }
        : { file: name, line: m.lineNum, text: m.message };
    });
    throw new ShaderCompilationError(name, key, messages);
  }

  private layout<Args>(spec: KernelSpec<Args>): GPUBindGroupLayout {
    const cached = this.layouts.get(spec.name);
    if (cached) return cached;
    const entries: GPUBindGroupLayoutEntry[] = spec.bindings.map((b, i) => ({
      binding: i,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    entries.push({ binding: spec.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    const layout = this.ctx.device.createBindGroupLayout({ label: spec.name, entries });
    this.layouts.set(spec.name, layout);
    return layout;
  }
}
