import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileFormatError, InvalidArgumentError, MmditError } from '../../errors.js';
import { convert, type ConvertResult, type TensorReport } from '../../weights/convert.js';
import { COMPONENTS, type ComponentName, type ModelManifest, VARIANTS, type WeightsVariant } from '../../weights/manifest.js';
import { type AssembledInputs, assembleInputs, mmditKind, parseInputSpec } from '../canonical-components.js';
import { MANIFEST_FILE } from '../weights-source.js';
import { parseCommand } from '../args.js';
import { PARTIAL_SUFFIX, prepareOutputDir, readBytesChecked, typed, writeFileAtomic } from '../fs-checks.js';

export const CONVERT_USAGE = `usage: convert <input…> --out <dir> [--quant f16|int8|int4|f32] [--model <id>] [--shard-mb <N>]
               [--components mmdit,clip_l,clip_g,t5,vae] [--tokenizers <dir>] [--kind <family>] [--license <text>]
Inputs: an SD3/SD3.5 single-file .safetensors (with or without T5), a diffusers folder, loose
.safetensors (one component each, detected from the names; force one with clip_l=<path>),
*.safetensors.index.json, ONNX models (initialisers, external data beside them), or a converted
manifest. Writes <dir>/${MANIFEST_FILE} and 256-byte-aligned shards, and prints each tensor's
stored format and relative L2 error. --quant defaults to f16.
Exit status: 0 written, 1 the checkpoint was rejected, 2 bad usage.`;

export interface ConvertCommandOptions {
  /** Paths, optionally `component=path`. */
  readonly inputs: readonly string[];
  readonly out: string;
  readonly quant: WeightsVariant;
  readonly model?: string;
  readonly kind?: string;
  readonly license?: string;
  readonly shardBytes?: number;
  /** Only these components (default: every component found). */
  readonly components?: readonly ComponentName[];
  /** A folder with tokenizer files: `clip/` and `t5xxl/`, or diffusers' tokenizer folders. */
  readonly tokenizers?: string;
  /** Line sink for the table (default console.log). */
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface ConvertCommandResult extends ConvertResult {
  readonly manifestPath: string;
}

const MIB = 1024 * 1024;
const SHARD_FILE = /^(mmdit|clip_l|clip_g|t5|vae)-\d{5}\.bin$/;

/**
 * Converts checkpoints into a model folder. Streams tensor by tensor (memory: one shard plus the
 * tensor being converted), printing one table row per tensor as it is written.
 */
export async function convertCheckpoints(o: ConvertCommandOptions): Promise<ConvertCommandResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  // Up front: a conversion takes minutes, an output folder that cannot be written should not.
  const out = await prepareOutputDir(o.out);
  const assembled = await assembleInputs(o.inputs, o.components ?? null, o.signal);
  for (const note of assembled.notes) log(`note: ${note}`);
  checkRequantisation(assembled.components, o.quant);
  const components = Object.values(assembled.components);
  const model = o.model ?? defaultModelId(o.inputs);
  const kind = o.kind ?? (assembled.mmdit ? mmditKind(assembled.mmdit) : undefined);
  for (const c of components) log(`${c.component}: ${c.source.tensors.size} tensors from ${c.origin}`);
  log(header());
  const result = await convert({
    model,
    ...(kind !== undefined ? { kind } : {}),
    ...(o.license !== undefined ? { license: o.license } : {}),
    quant: o.quant,
    inputs: Object.fromEntries(components.map((c) => [c.component, c.source])),
    configs: Object.fromEntries(components.map((c) => [c.component, c.config])),
    tokenizers: await copyTokenizers(o, assembled.components, out),
    ...(o.shardBytes !== undefined ? { shardBytes: o.shardBytes } : {}),
    // Temp name + rename: a killed conversion never leaves a partial shard under a final name.
    write: (file, bytes) => writeFileAtomic(join(out, file), bytes),
    manifestFile: MANIFEST_FILE,
    onTensor: (r) => log(row(r)),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const removed = await removeStaleShards(out, result.manifest);
  for (const line of summary(result)) log(line);
  if (removed > 0) log(`removed ${removed} shard files of an earlier conversion in ${out}`);
  const manifestPath = join(out, MANIFEST_FILE);
  log(`wrote ${manifestPath}`);
  return { ...result, manifestPath };
}

/**
 * Quantised tensors are copied as they are (re-quantising would compound two rounding errors), so
 * a q8/q4 input converts only to its own variant; anything else starts from an f16 or f32 model.
 */
function checkRequantisation(components: AssembledInputs['components'], quant: WeightsVariant): void {
  for (const c of Object.values(components)) {
    for (const info of c.source.tensors.values()) {
      const variant = info.dtype === 'Q8' ? 'int8' : info.dtype === 'Q4' ? 'int4' : null;
      if (variant && variant !== quant) throw new InvalidArgumentError('--quant', `${variant}: the input is already quantised (convert from its f16 or f32 form instead)`, quant);
    }
  }
}

function defaultModelId(inputs: readonly string[]): string {
  const path = resolve(parseInputSpec(inputs[0] ?? 'model').path);
  const name = basename(path).replace(/(\.safetensors\.index\.json|\.safetensors|\.sft|\.onnx|\.json)$/, '');
  return name === 'manifest' ? basename(dirname(path)) : name;
}

function header(): string {
  return `${'component'.padEnd(9)} ${'tensor'.padEnd(56)} ${'shape'.padEnd(18)} ${'from'.padEnd(5)} ${'stored'.padEnd(6)} ${'rel-L2'.padStart(9)} ${'bytes'.padStart(12)}`;
}

function row(r: TensorReport): string {
  const name = r.name.length > 56 ? `…${r.name.slice(-55)}` : r.name;
  const err = r.relL2 === 0 ? '0' : r.relL2.toExponential(2);
  return `${r.component.padEnd(9)} ${name.padEnd(56)} ${JSON.stringify(r.shape).padEnd(18)} ${r.from.padEnd(5)} ${r.format.padEnd(6)} ${err.padStart(9)} ${String(r.bytes).padStart(12)}`;
}

/** Per component: tensors by stored format, shard bytes, the worst and the size-weighted error. */
function summary(result: ConvertResult): string[] {
  const lines = [''];
  for (const component of COMPONENTS) {
    const c = result.manifest.components[component];
    if (!c) continue;
    const reports = result.report.filter((r) => r.component === component);
    const formats = new Map<string, number>();
    for (const r of reports) formats.set(r.format, (formats.get(r.format) ?? 0) + 1);
    const bytes = c.shards.reduce((a, s) => a + s.bytes, 0);
    const worst = reports.reduce((a, r) => (r.relL2 > a.relL2 ? r : a), reports[0] as TensorReport);
    lines.push(
      `${component}: ${reports.length} tensors (${[...formats].map(([f, n]) => `${n} ${f}`).join(', ')}), ` +
        `${(bytes / MIB).toFixed(2)} MiB in ${c.shards.length} shards; worst rel-L2 ${worst.relL2.toExponential(2)} (${worst.name})`,
    );
  }
  lines.push(`total ${(result.bytes / MIB).toFixed(2)} MiB (${result.bytes} bytes), variant ${result.manifest.variant}`);
  return lines;
}

/**
 * Shard files of an earlier conversion into the same folder that the new manifest no longer
 * lists, and temporary files a killed conversion left.
 */
async function removeStaleShards(out: string, manifest: ModelManifest): Promise<number> {
  const current = new Set(Object.values(manifest.components).flatMap((c) => c.shards.map((s) => s.file)));
  const stale = (await readdir(out)).filter((f) => (SHARD_FILE.test(f) && !current.has(f)) || f.endsWith(PARTIAL_SUFFIX));
  await Promise.all(stale.map((f) => typed(join(out, f), 'write', () => unlink(join(out, f)))));
  return stale.length;
}

/** Tokenizer files per text component, in the two layouts that ship them. */
const TOKENIZER_FILES: readonly { component: ComponentName; role: string; candidates: readonly string[]; to: string }[] = [
  { component: 'clip_l', role: 'vocab', candidates: ['tokenizer/vocab.json', 'clip/vocab.json'], to: 'clip_l/vocab.json' },
  { component: 'clip_l', role: 'merges', candidates: ['tokenizer/merges.txt', 'clip/merges.txt'], to: 'clip_l/merges.txt' },
  { component: 'clip_g', role: 'vocab', candidates: ['tokenizer_2/vocab.json', 'clip/vocab.json'], to: 'clip_g/vocab.json' },
  { component: 'clip_g', role: 'merges', candidates: ['tokenizer_2/merges.txt', 'clip/merges.txt'], to: 'clip_g/merges.txt' },
  { component: 't5', role: 'tokenizer', candidates: ['tokenizer_3/tokenizer.json', 't5xxl/tokenizer.json'], to: 't5/tokenizer.json' },
];

/**
 * Copies the tokenizers of the text components present from `--tokenizers` or, failing that,
 * from a diffusers input folder, into `<out>/tokenizers/`.
 */
async function copyTokenizers(o: ConvertCommandOptions, present: { readonly [C in ComponentName]?: unknown }, out: string): Promise<ModelManifest['tokenizers']> {
  const roots = o.tokenizers !== undefined ? [o.tokenizers] : o.inputs.map((s) => parseInputSpec(s).path);
  const found: Record<string, Record<string, string>> = {};
  for (const t of TOKENIZER_FILES) {
    if (!present[t.component]) continue;
    for (const root of roots) {
      const from = (await Promise.all(t.candidates.map(async (c) => ((await stat(join(root, c)).then((s) => s.isFile(), () => false)) ? join(root, c) : null)))).find(Boolean);
      if (!from) continue;
      const to = `tokenizers/${t.to}`;
      await typed(join(out, to, '..'), 'write', () => mkdir(join(out, to, '..'), { recursive: true }));
      await writeFileAtomic(join(out, to), await readBytesChecked(from));
      (found[t.component] ??= {})[t.role] = to;
      break;
    }
  }
  if (o.tokenizers !== undefined && Object.keys(found).length === 0 && TOKENIZER_FILES.some((t) => present[t.component])) {
    throw new FileFormatError(o.tokenizers, 'holds no tokenizer files (clip/vocab.json, clip/merges.txt, t5xxl/tokenizer.json or diffusers tokenizer*/ folders)');
  }
  return found;
}

const OPTIONS = {
  out: { type: 'string' },
  quant: { type: 'string' },
  model: { type: 'string' },
  kind: { type: 'string' },
  license: { type: 'string' },
  tokenizers: { type: 'string' },
  'shard-mb': { type: 'string' },
  components: { type: 'string' },
} as const;

function parse(argv: readonly string[]): ConvertCommandOptions | 'help' {
  const args = parseCommand(argv, OPTIONS, true);
  if (args === 'help') return 'help';
  const v = args.values;
  const quant = v.quant ?? 'f16';
  if (!(VARIANTS as readonly string[]).includes(quant)) throw new InvalidArgumentError('--quant', VARIANTS.join(', '), quant);
  const extra: { model?: string; kind?: string; license?: string; shardBytes?: number; components?: ComponentName[]; tokenizers?: string } = {};
  if (v.model !== undefined) extra.model = v.model;
  if (v.kind !== undefined) extra.kind = v.kind;
  if (v.license !== undefined) extra.license = v.license;
  if (v.tokenizers !== undefined) extra.tokenizers = v.tokenizers;
  if (v['shard-mb'] !== undefined) {
    const mb = Number(v['shard-mb']);
    if (!Number.isInteger(mb) || mb < 1 || mb > 1024) throw new InvalidArgumentError('--shard-mb', 'an integer from 1 to 1024', v['shard-mb']);
    extra.shardBytes = mb * MIB;
  }
  if (v.components !== undefined) {
    const list = v.components.split(',').map((c) => c.trim()).filter(Boolean);
    const bad = list.find((c) => !(COMPONENTS as readonly string[]).includes(c));
    if (bad !== undefined || list.length === 0) throw new InvalidArgumentError('--components', COMPONENTS.join(', '), bad ?? '');
    extra.components = list as ComponentName[];
  }
  const inputs = args.positionals;
  if (inputs.length === 0) throw new InvalidArgumentError('inputs', 'at least one checkpoint file or folder', 'nothing');
  if (v.out === undefined) throw new InvalidArgumentError('--out', 'an output folder', 'nothing');
  return { inputs, out: v.out, quant: quant as WeightsVariant, ...extra };
}

/** `convert <input…> --out <dir> [--quant …]` → exit status (0 written, 1 rejected, 2 usage). */
export async function runConvert(argv: readonly string[]): Promise<number> {
  let options: ConvertCommandOptions | 'help';
  try {
    options = parse(argv);
    if (options === 'help') {
      console.log(CONVERT_USAGE);
      return 0;
    }
    for (const spec of options.inputs) {
      const { path } = parseInputSpec(spec);
      if (!(await stat(path).then(() => true, () => false))) throw new FileFormatError(path, 'no such file or folder');
    }
  } catch (error) {
    console.error(`convert: ${(error as Error).message}\n${CONVERT_USAGE}`);
    return 2;
  }
  try {
    await convertCheckpoints(options);
    return 0;
  } catch (error) {
    if (error instanceof MmditError) {
      console.error(`convert: ${error.name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
