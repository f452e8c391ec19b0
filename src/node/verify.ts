import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { GpuContext } from '../gpu/device.js';
import { FileFormatError, InvalidArgumentError, MmditError, WeightsMismatchError } from '../errors.js';
import type { Precision } from '../shader/contract.js';
import { PipelineCache } from '../shader/pipeline-cache.js';
import { compareTensors } from '../tensor/compare.js';
import { createNodeGpu } from './dawn.js';
import { insideFolder, readBytesChecked, readTextChecked, typed } from './fs-checks.js';

/**
 * The verify harness: reads an `index.json` in the shared vector format (MODEL_SPEC §8,
 * TEXT_VAE_SPEC §7), runs every case through the runner registered for its `kind`, compares each
 * output and intermediate with its reference, prints one line per case and writes the version-1
 * JSON report (ISSUE_NOTES, issue 3). Runners live next to their models and register here.
 */

export interface VectorTensor {
  readonly file: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32' | 'uint8';
  readonly maxAbs?: number;
}

export interface VectorCase {
  readonly name: string;
  readonly kind: string;
  readonly config: string;
  readonly weights: string | null;
  readonly inputs: Readonly<Record<string, VectorTensor>>;
  readonly outputs: Readonly<Record<string, VectorTensor>>;
  readonly intermediates?: Readonly<Record<string, VectorTensor>>;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly tolerance: { readonly maxAbs: number; readonly intermediatesMaxAbs?: number };
}

export interface VectorIndex {
  readonly version: number;
  readonly description?: string;
  readonly configs: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly cases: readonly VectorCase[];
}

/** One compared tensor: what the engine produced, the reference and the tolerance that applies. */
export interface TensorCheck {
  readonly name: string;
  readonly role: 'output' | 'intermediate';
  readonly got: Float32Array;
  readonly expected: Float32Array;
  /** Max-abs tolerance (f32 compute with the case's own weights). */
  readonly maxAbs: number;
  /** Relative-L2 tolerance instead (quantised or replaced weights); wins over maxAbs when set. */
  readonly relL2?: number;
}

export interface CaseRun {
  readonly tensors: readonly TensorCheck[];
}

export interface VerifyGpu {
  readonly ctx: GpuContext;
  readonly cache: PipelineCache;
}

export interface VerifyRunOptions {
  readonly precision: Precision;
  /** `--weights`: a checkpoint or manifest that replaces the weights of the cases it fits. */
  readonly weights: string | null;
  /** The parsed index the case comes from (its `configs`). */
  readonly index: VectorIndex;
  /** Resources shared by consecutive cases of one run (a loaded model), released at its end. */
  readonly scope: RunScope;
  /** Runners call this with the weights the case runs on (its own, or `--weights`), for the report. */
  readonly ranOn?: (weights: string) => void;
}

/** Whether `--weights` fit a case, with both configurations in words for the error that none fit. */
export interface WeightsFit {
  readonly fits: boolean;
  /** The weights' configuration as the runner derives it (or why it holds none for this kind). */
  readonly weightsConfig: string;
  /** `<config name>: <its fields>` of the case. */
  readonly caseConfig: string;
}

/** Answers, without GPU work, whether `o.weights` fit case `c` (the fit rule of its runner). */
export type WeightsProbe = (c: VectorCase, o: VerifyRunOptions) => Promise<WeightsFit>;

/**
 * Holds one resource at a time for the cases of a run (consecutive cases usually share weights):
 * asking for another key releases the previous one, and the run releases the last. Peak GPU bytes
 * of a case therefore include the weights it runs on, loaded or kept.
 */
export class RunScope {
  private held: { key: string; value: Promise<unknown>; release: (v: unknown) => void } | null = null;

  keep<T>(key: string, make: () => Promise<T>, release: (value: T) => void): Promise<T> {
    if (this.held?.key === key) return this.held.value as Promise<T>;
    this.release();
    const value = make();
    this.held = { key, value, release: release as (v: unknown) => void };
    value.catch(() => {
      if (this.held?.value === value) this.held = null;
    });
    return value;
  }

  release(): void {
    const held = this.held;
    this.held = null;
    if (held) void held.value.then(held.release, () => undefined);
  }
}

/**
 * Runs one case; the harness times it, tracks peak GPU bytes and compares what it returns. A
 * runner that takes weights carries the probe of its fit rule (`withWeightsProbe`), so a run with
 * `--weights` that fit no case stops before any case runs.
 */
export interface CaseRunner {
  (gpu: VerifyGpu, c: VectorCase, dir: string, options: VerifyRunOptions): Promise<CaseRun>;
  readonly weightsFit?: WeightsProbe;
}

export function withWeightsProbe(run: (gpu: VerifyGpu, c: VectorCase, dir: string, options: VerifyRunOptions) => Promise<CaseRun>, weightsFit: WeightsProbe): CaseRunner {
  return Object.assign(run, { weightsFit });
}

/** A case configuration in words: its name and its scalar and list fields. */
export function describeCaseConfig(name: string, record: Readonly<Record<string, unknown>> | undefined): string {
  if (!record) return `${name}: (not in the index's configs)`;
  const fields = Object.entries(record).filter(([, v]) => typeof v !== 'object' || Array.isArray(v)).map(([k, v]) => `${k} ${JSON.stringify(v)}`);
  return `${name}: ${fields.join(', ')}`;
}

const runners = new Map<string, CaseRunner>();

/** Registers the runner of a case kind (`forward`, `sampling`, `clip_l`, `vae_decode`, …). */
export function registerCaseRunner(kind: string, runner: CaseRunner): void {
  runners.set(kind, runner);
}

export function registeredKinds(): string[] {
  return [...runners.keys()].sort();
}

/** f16 compute is judged by relative L2 per tensor (ISSUE_NOTES, issue 3). */
export const F16_REL_L2 = 1e-2;

export interface ToleranceReport {
  readonly maxAbs?: number;
  readonly relL2?: number;
}

export interface TensorReport {
  readonly name: string;
  readonly role: 'output' | 'intermediate';
  /** null when the engine's tensor holds NaN or an infinity (JSON has neither). */
  readonly maxAbs: number | null;
  readonly relL2: number | null;
  readonly tolerance: ToleranceReport;
  readonly pass: boolean;
  /** Count of NaN and infinite values the engine produced; present when not 0. */
  readonly nonFinite?: number;
}

export interface CaseReport {
  readonly name: string;
  readonly kind: string;
  readonly config: string;
  readonly pass: boolean;
  readonly maxAbs: number | null;
  readonly relL2: number | null;
  readonly tolerance: ToleranceReport | null;
  readonly ms: number;
  readonly peakGpuBytes: number;
  /** The weights the case ran on: its own file, or `--weights` when they fit it (null: none loaded). */
  readonly weights: string | null;
  /** NaN and infinite values over the case's outputs; present when not 0 (then the case fails). */
  readonly nonFinite?: number;
  readonly tensors: readonly TensorReport[];
  readonly error?: { readonly type: string; readonly message: string };
}

export interface VerifyReport {
  readonly version: 1;
  readonly pass: boolean;
  readonly adapter: { readonly vendor: string; readonly architecture: string; readonly description: string; readonly isFallbackAdapter: boolean };
  readonly precision: Precision;
  readonly weights: string | null;
  readonly cases: readonly CaseReport[];
}

export interface VerifyOptions {
  readonly dir: string;
  readonly precision?: Precision;
  readonly weights?: string | null;
  /** Kinds to run (default all). */
  readonly only?: readonly string[];
  readonly json?: string | null;
  /** Line sink for the human-readable table (default console.log). */
  readonly log?: (line: string) => void;
  /** Use this GPU instead of acquiring one (tests). */
  readonly gpu?: VerifyGpu;
}

const VECTOR_DTYPES: readonly string[] = ['float32', 'int32', 'uint8'];

/**
 * Reads and validates `<dir>/index.json` before anything runs: every case has a name, kind,
 * outputs and tolerance; every tensor a dtype the harness reads (float32, int32, uint8) and a
 * shape of non-negative integers; every file it names (tensors, weights) stays inside `dir`.
 */
export async function readVectorIndex(dir: string): Promise<VectorIndex> {
  const file = join(dir, 'index.json');
  const text = await readTextChecked(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(file, `not a vector index: ${(cause as Error).message}`);
  }
  const index = json as Partial<VectorIndex>;
  if (typeof json !== 'object' || json === null || !Array.isArray(index.cases)) throw new FileFormatError(file, 'not a vector index: no "cases" array');
  for (const [i, c] of index.cases.entries()) {
    const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObject(c) || typeof c.name !== 'string' || typeof c.kind !== 'string' || !isObject(c.inputs) || !isObject(c.outputs) || typeof c.tolerance?.maxAbs !== 'number') {
      throw new FileFormatError(file, `cases[${i}] lacks name, kind, inputs, outputs or tolerance.maxAbs`);
    }
    if (c.weights !== undefined && c.weights !== null) {
      if (typeof c.weights !== 'string') throw new FileFormatError(file, `cases[${i}] (${c.name}).weights must be a file name or null`);
      insideFolder(dir, c.weights);
    }
    for (const group of ['inputs', 'outputs', 'intermediates'] as const) {
      const tensors = (c as unknown as Record<string, unknown>)[group] ?? {};
      if (typeof tensors !== 'object' || tensors === null) throw new FileFormatError(file, `cases[${i}] (${c.name}).${group} is not an object`);
      for (const [name, t] of Object.entries(tensors as Record<string, Partial<VectorTensor> | null>)) checkVectorTensor(file, dir, `${c.name} ${group}.${name}`, t);
    }
  }
  return { version: index.version ?? 1, configs: index.configs ?? {}, cases: index.cases, ...(index.description ? { description: index.description } : {}) };
}

function checkVectorTensor(file: string, dir: string, where: string, t: Partial<VectorTensor> | null): void {
  if (typeof t !== 'object' || t === null || typeof t.file !== 'string') throw new FileFormatError(file, `${where}: not {file, shape, dtype}`);
  if (!VECTOR_DTYPES.includes(t.dtype as string)) {
    throw new FileFormatError(file, `${where}: dtype ${JSON.stringify(t.dtype)} is not read by verify (allowed: ${VECTOR_DTYPES.join(', ')})`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || !Number.isSafeInteger(t.shape.reduce((p, d) => p * d, 1))) {
    throw new FileFormatError(file, `${where}: shape must be a list of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  insideFolder(dir, t.file);
}

/** A vector file as f32 (int32 and uint8 entries converted exactly). */
export async function readVectorTensor(dir: string, t: VectorTensor): Promise<Float32Array> {
  const file = insideFolder(dir, t.file);
  if (!VECTOR_DTYPES.includes(t.dtype)) throw new FileFormatError(file, `dtype ${JSON.stringify(t.dtype)} is not read by verify (allowed: ${VECTOR_DTYPES.join(', ')})`);
  const count = t.shape.reduce((p, d) => p * d, 1);
  const size = t.dtype === 'uint8' ? 1 : 4;
  const bytes = await readBytesChecked(file);
  if (bytes.byteLength !== count * size) {
    throw new FileFormatError(file, `holds ${bytes.byteLength} bytes, but ${JSON.stringify(t.shape)} ${t.dtype} needs ${count * size}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = t.dtype === 'uint8' ? view.getUint8(i) : t.dtype === 'int32' ? view.getInt32(i * 4, true) : view.getFloat32(i * 4, true);
  }
  return out;
}


/** The comparison every report figure comes from (max-abs, relative L2, pooled sums). */
export { compareTensors };

/** How many values are NaN or infinite. */
export function countNonFinite(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i] as number)) n++;
  return n;
}

function judge(check: TensorCheck, precision: Precision): TensorReport {
  const relLimit = precision === 'f16' ? Math.max(F16_REL_L2, check.relL2 ?? 0) : check.relL2;
  const tolerance: ToleranceReport = relLimit !== undefined ? { relL2: relLimit } : { maxAbs: check.maxAbs };
  const nonFinite = countNonFinite(check.got);
  if (nonFinite > 0) return { name: check.name, role: check.role, maxAbs: null, relL2: null, tolerance, pass: false, nonFinite };
  const { maxAbs, relL2 } = compareTensors(check.got, check.expected);
  const pass = relLimit !== undefined ? relL2 <= relLimit : maxAbs <= check.maxAbs;
  return { name: check.name, role: check.role, maxAbs, relL2, tolerance, pass };
}

function errorOf(error: unknown): { type: string; message: string } {
  if (error instanceof Error) return { type: error instanceof MmditError ? error.name : error.name || 'Error', message: error.message };
  return { type: 'Error', message: String(error) };
}

/** Runs the selected cases and returns the report (and writes it when `json` is given). */
export async function runVectorSet(o: VerifyOptions): Promise<VerifyReport> {
  const dir = resolve(o.dir);
  const precision = o.precision ?? 'f32';
  const log = o.log ?? ((line: string) => console.log(line));
  const index = await readVectorIndex(dir);
  const only = o.only && o.only.length > 0 ? new Set(o.only) : null;
  const cases = index.cases.filter((c) => !only || only.has(c.kind));
  let owned: { gpu: VerifyGpu; dispose(): void } | null = null;
  let gpu = o.gpu;
  if (!gpu) {
    const node = createNodeGpu();
    const ctx = await GpuContext.acquire({ gpu: node.gpu });
    gpu = { ctx, cache: new PipelineCache(ctx) };
    owned = { gpu, dispose: () => { ctx.dispose(); node.dispose(); } };
  }
  const { ctx } = gpu;
  if (precision === 'f16' && !ctx.caps.f16) {
    owned?.dispose();
    throw new InvalidArgumentError('--precision', '"f32" (this adapter lacks shader-f16)', precision);
  }
  const scope = new RunScope();
  const options: VerifyRunOptions = { precision, weights: o.weights ? resolve(o.weights) : null, index, scope };
  if (options.weights) {
    try {
      await checkWeightsFit(cases, options);
    } catch (error) {
      owned?.dispose();
      throw error;
    }
  }
  const a = ctx.adapterInfo;
  log(`adapter: ${a.vendor} / ${a.architecture} (${a.description})${a.isFallbackAdapter ? ' [fallback]' : ''}; precision ${precision}${options.weights ? `; weights ${options.weights}` : ''}`);
  log(`${'case'.padEnd(48)} ${'kind'.padEnd(12)} ${'max-abs'.padStart(9)} ${'rel-L2'.padStart(9)} ${'peak MiB'.padStart(9)} ${'ms'.padStart(8)}  result`);
  const reports: CaseReport[] = [];
  try {
    for (const c of cases) {
      const report = await runCase(gpu, c, dir, options);
      reports.push(report);
      const fmt = (v: number | null) => (v === null ? '-' : v.toExponential(2)).padStart(9);
      log(`${c.name.padEnd(48)} ${c.kind.padEnd(12)} ${fmt(report.maxAbs)} ${fmt(report.relL2)} ${(report.peakGpuBytes / 2 ** 20).toFixed(1).padStart(9)} ${report.ms.toFixed(0).padStart(8)}  ${report.pass ? 'pass' : 'FAIL'}`);
      if (report.error) log(`  ${report.error.type}: ${report.error.message}`);
      for (const t of report.tensors) {
        if (t.pass) continue;
        if (t.nonFinite) log(`  ${t.role} ${t.name}: ${t.nonFinite} non-finite value(s) (NaN or Inf)`);
        else log(`  ${t.role} ${t.name}: max-abs ${fmt(t.maxAbs)}, rel-L2 ${fmt(t.relL2)} over ${JSON.stringify(t.tolerance)}`);
      }
    }
  } finally {
    scope.release();
    await ctx.device.queue.onSubmittedWorkDone().catch(() => undefined);
    owned?.dispose();
  }
  const report: VerifyReport = {
    version: 1,
    pass: reports.length > 0 && reports.every((r) => r.pass),
    adapter: { vendor: a.vendor, architecture: a.architecture, description: a.description, isFallbackAdapter: a.isFallbackAdapter },
    precision,
    weights: options.weights,
    cases: reports,
  };
  log(`${reports.filter((r) => r.pass).length}/${reports.length} cases pass`);
  if (o.json) {
    const path = resolve(o.json);
    await typed(path, 'write', () => writeFile(path, JSON.stringify(report, null, 2) + '\n'));
    log(`report: ${path}`);
  }
  return report;
}

/**
 * With `--weights`, asks the runner of every selected case whether the weights fit it; when none
 * does, nothing would be verified with them, so the run stops (WeightsMismatchError) naming the
 * weights' configuration and the cases'. A probe that fails (unreadable weights) does not stop
 * the run: the cases then report that error themselves.
 */
async function checkWeightsFit(cases: readonly VectorCase[], options: VerifyRunOptions): Promise<void> {
  const weightsConfigs = new Set<string>();
  const caseConfigs = new Set<string>();
  for (const c of cases) {
    const probe = runners.get(c.kind)?.weightsFit;
    if (!probe) {
      caseConfigs.add(`${c.config} (${c.kind}: takes no weights)`);
      continue;
    }
    let fit: WeightsFit;
    try {
      fit = await probe(c, options);
    } catch {
      return;
    }
    if (fit.fits) return;
    weightsConfigs.add(fit.weightsConfig);
    caseConfigs.add(fit.caseConfig);
  }
  throw new WeightsMismatchError(options.weights ?? '', [...weightsConfigs].join(' / ') || 'not read by any case', [...caseConfigs]);
}

async function runCase(gpu: VerifyGpu, c: VectorCase, dir: string, shared: VerifyRunOptions): Promise<CaseReport> {
  let weights: string | null = null;
  const options: VerifyRunOptions = { ...shared, ranOn: (path) => (weights = path) };
  const base = { name: c.name, kind: c.kind, config: c.config };
  const runner = runners.get(c.kind);
  gpu.ctx.memory.resetPeak();
  const t0 = performance.now();
  if (!runner) {
    const error = { type: 'UnsupportedCase', message: `no runner for kind "${c.kind}" (registered: ${registeredKinds().join(', ') || 'none'})` };
    return { ...base, pass: false, maxAbs: null, relL2: null, tolerance: null, ms: 0, peakGpuBytes: 0, weights: null, tensors: [], error };
  }
  try {
    const run = await runner(gpu, c, dir, options);
    const ms = performance.now() - t0;
    // f16 compute is judged per output (ISSUE_NOTES, issue 3); intermediates are f32 diagnostics.
    const checked = options.precision === 'f16' ? run.tensors.filter((t) => t.role === 'output') : run.tensors;
    const tensors = checked.map((t) => judge(t, options.precision));
    const outputs = run.tensors.filter((t) => t.role === 'output');
    let maxAbs = 0;
    let diff2 = 0;
    let ref2 = 0;
    let nonFinite = 0;
    for (const t of outputs) {
      nonFinite += countNonFinite(t.got);
      const r = compareTensors(t.got, t.expected);
      maxAbs = Math.max(maxAbs, r.maxAbs);
      diff2 += r.diff2;
      ref2 += r.ref2;
    }
    const missing = Object.keys(c.outputs).filter((name) => !outputs.some((t) => t.name === name));
    const firstOutput = tensors.find((t) => t.role === 'output');
    return {
      ...base,
      pass: nonFinite === 0 && outputs.length > 0 && missing.length === 0 && tensors.every((t) => t.pass),
      // JSON has no NaN or Infinity: a non-finite output is reported as null and counted.
      maxAbs: nonFinite > 0 ? null : maxAbs,
      relL2: nonFinite > 0 ? null : ref2 > 0 ? Math.sqrt(diff2 / ref2) : diff2 > 0 ? Infinity : 0,
      tolerance: firstOutput?.tolerance ?? null,
      ms,
      peakGpuBytes: gpu.ctx.memory.peakBytes,
      weights,
      ...(nonFinite > 0 ? { nonFinite } : {}),
      tensors,
      ...(missing.length > 0 ? { error: { type: 'MissingOutput', message: `the runner produced no ${missing.join(', ')}` } } : {}),
    };
  } catch (error) {
    return {
      ...base,
      pass: false,
      maxAbs: null,
      relL2: null,
      tolerance: null,
      ms: performance.now() - t0,
      peakGpuBytes: gpu.ctx.memory.peakBytes,
      weights,
      tensors: [],
      error: errorOf(error),
    };
  }
}

/** The directory of an index file or the directory itself. */
export function vectorDir(path: string): string {
  return path.endsWith('index.json') ? dirname(path) : path;
}
