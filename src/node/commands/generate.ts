import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { FileFormatError, InvalidArgumentError, MmditError } from '../../errors.js';
import type { Progress } from '../../pipeline/progress.js';
import type { GenerateOptions, GenerateResult, Pipeline } from '../../pipeline/types.js';
import { VARIANTS, type WeightsVariant } from '../../weights/manifest.js';
import { numberFlag, parseCommand } from '../args.js';
import { checkModelIndependent } from '../../pipeline/validate.js';
import { createPipeline } from '../pipeline.js';
import { encodePngFile } from '../png.js';

export const GENERATE_USAGE = `usage: generate --prompt <text> [--negative-prompt <text>] [--out image.png]
       generate --prompts <file.json> --out-dir <dir>
  [--width N] [--height N] [--steps N] [--guidance-scale X] [--shift X] [--seed N] [--num-images 1-4]
  [--model <catalogue id | manifest.json | model folder | URL>] [--variant f32|f16|int8|int4]
  [--precision f32|f16] [--no-t5] [--residency all|sequential] [--cache-dir <dir>] [--json]
Writes PNGs with the generation parameters in a tEXt "parameters" chunk (--out is overwritten).
Batch mode reads [{"id", "prompt", "seed"?, "negativePrompt"?}, …] and writes <dir>/<id>.png
(<id>-<i>.png with --num-images > 1), with one pipeline for every prompt. Defaults come from the
model's manifest; the default model is the catalogue's (weights-manifest.json).
--json prints a JSON summary on stdout. Exit status: 0 written, 1 failed, 2 bad usage.`;

const OPTIONS = {
  prompt: { type: 'string' },
  'negative-prompt': { type: 'string' },
  prompts: { type: 'string' },
  out: { type: 'string' },
  'out-dir': { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  steps: { type: 'string' },
  'guidance-scale': { type: 'string' },
  shift: { type: 'string' },
  seed: { type: 'string' },
  'num-images': { type: 'string' },
  model: { type: 'string' },
  variant: { type: 'string' },
  precision: { type: 'string' },
  'no-t5': { type: 'boolean' },
  residency: { type: 'string' },
  'cache-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** One prompt of a batch file. */
export interface BatchEntry {
  readonly id: string;
  readonly prompt: string;
  readonly seed?: number;
  readonly negativePrompt?: string;
}

interface Job {
  readonly entries: readonly BatchEntry[];
  /** Where entry `id`'s image `i` of `n` goes. */
  readonly path: (id: string, i: number, n: number) => string;
  readonly batch: boolean;
}

export interface GenerateArgs {
  readonly job: Job;
  readonly shared: Omit<GenerateOptions, 'prompt' | 'seed' | 'negativePrompt'>;
  readonly seed: number | undefined;
  readonly negativePrompt: string | undefined;
  readonly pipeline: Parameters<typeof createPipeline>[0];
  readonly json: boolean;
  readonly outDir: string | null;
}

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** `{id, prompt, seed?}` entries; every problem names the file and the entry. */
export function parseBatch(text: string, file: string): BatchEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(file, `not JSON (${(cause as Error).message})`);
  }
  if (!Array.isArray(json) || json.length === 0) throw new FileFormatError(file, 'expected a non-empty list of {"id", "prompt", "seed"?}');
  const seen = new Set<string>();
  return json.map((raw: unknown, i) => {
    const e = raw as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) throw new FileFormatError(file, `entry ${i} is not an object`);
    if (typeof e['id'] !== 'string' || !SAFE_ID.test(e['id']) || e['id'].includes('..')) throw new FileFormatError(file, `entry ${i}: "id" must be a file-name-safe string (letters, digits, _ . -), got ${JSON.stringify(e['id'])}`);
    if (seen.has(e['id'])) throw new FileFormatError(file, `entry ${i}: id ${JSON.stringify(e['id'])} appears twice`);
    seen.add(e['id']);
    if (typeof e['prompt'] !== 'string') throw new FileFormatError(file, `entry ${i} (${e['id']}): "prompt" must be a string`);
    const seed = e['seed'];
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) throw new FileFormatError(file, `entry ${i} (${e['id']}): "seed" must be an integer in 0…4294967295`);
    const neg = e['negativePrompt'];
    if (neg !== undefined && typeof neg !== 'string') throw new FileFormatError(file, `entry ${i} (${e['id']}): "negativePrompt" must be a string`);
    return { id: e['id'], prompt: e['prompt'], ...(seed !== undefined ? { seed } : {}), ...(neg !== undefined ? { negativePrompt: neg } : {}) };
  });
}

function numbered(path: string, i: number, n: number): string {
  if (n === 1) return path;
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}-${i}${ext || '.png'}`;
}

/** Flags → what to run; usage errors are InvalidArgumentErrors naming the flag. */
export async function parseGenerate(argv: readonly string[]): Promise<GenerateArgs | 'help'> {
  const args = parseCommand(argv, OPTIONS);
  if (args === 'help') return 'help';
  const v = args.values;
  const int = (flag: keyof typeof OPTIONS) => numberFlag(v[flag] as string | undefined, `--${flag}`);
  const real = (flag: keyof typeof OPTIONS) => numberFlag(v[flag] as string | undefined, `--${flag}`, { integer: false });
  if (v.variant !== undefined && !(VARIANTS as readonly string[]).includes(v.variant)) throw new InvalidArgumentError('--variant', VARIANTS.join(', '), v.variant);
  if (v.precision !== undefined && v.precision !== 'f32' && v.precision !== 'f16') throw new InvalidArgumentError('--precision', 'f32 or f16', v.precision);
  if (v.residency !== undefined && v.residency !== 'all' && v.residency !== 'sequential') throw new InvalidArgumentError('--residency', 'all or sequential', v.residency);
  let job: Job;
  let outDir: string | null = null;
  if (v.prompts !== undefined) {
    if (v.prompt !== undefined) throw new InvalidArgumentError('--prompt', 'not together with --prompts (batch mode)', v.prompt);
    if (v.out !== undefined) throw new InvalidArgumentError('--out', 'not in batch mode (use --out-dir)', v.out);
    if (v['out-dir'] === undefined) throw new InvalidArgumentError('--out-dir', 'a folder for the batch images', 'nothing');
    let text: string;
    try {
      text = await readFile(v.prompts, 'utf8');
    } catch (cause) {
      throw new FileFormatError(v.prompts, `cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`);
    }
    const dir = resolve(v['out-dir']);
    outDir = dir;
    job = { entries: parseBatch(text, v.prompts), path: (id, i, n) => join(dir, n === 1 ? `${id}.png` : `${id}-${i}.png`), batch: true };
  } else {
    if (v.prompt === undefined) throw new InvalidArgumentError('--prompt', 'a prompt (or --prompts <file.json> for a batch)', 'nothing');
    if (v['out-dir'] !== undefined) throw new InvalidArgumentError('--out-dir', 'only with --prompts (use --out)', v['out-dir']);
    const out = resolve(v.out ?? 'image.png');
    job = { entries: [{ id: 'image', prompt: v.prompt }], path: (_id, i, n) => numbered(out, i, n), batch: false };
  }
  const shared: { -readonly [K in keyof GenerateArgs['shared']]: GenerateArgs['shared'][K] } = {};
  const width = int('width');
  const height = int('height');
  const steps = int('steps');
  const guidance = real('guidance-scale');
  const shift = real('shift');
  const images = int('num-images');
  if (width !== undefined) shared.width = width;
  if (height !== undefined) shared.height = height;
  if (steps !== undefined) shared.numInferenceSteps = steps;
  if (guidance !== undefined) shared.guidanceScale = guidance;
  if (shift !== undefined) shared.shift = shift;
  if (images !== undefined) shared.numImagesPerPrompt = images;
  const seed = int('seed');
  // What needs no model is checked now, before the model is opened or anything downloads.
  checkModelIndependent({ ...shared, ...(seed !== undefined ? { seed } : {}) });
  return {
    job,
    shared,
    seed,
    negativePrompt: v['negative-prompt'],
    pipeline: {
      ...(v.model !== undefined ? { model: v.model } : {}),
      ...(v.variant !== undefined ? { variant: v.variant as WeightsVariant } : {}),
      ...(v.precision !== undefined ? { precision: v.precision as 'f32' | 'f16' } : {}),
      ...(v['no-t5'] ? { textEncoders: { t5: false } } : {}),
      ...(v.residency !== undefined ? { residency: v.residency as 'all' | 'sequential' } : {}),
      ...(v['cache-dir'] !== undefined ? { cacheDir: v['cache-dir'] } : {}),
    },
    json: v.json === true,
    outDir,
  };
}

/** Progress on stderr: a redrawn bar on a terminal, plain lines otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr, verbose = true): (e: Progress) => void {
  const tty = stream.isTTY === true;
  let phase = '';
  const MIB = 1024 * 1024;
  const bar = (done: number, total: number): string => {
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  const show = (key: string, text: string, final: boolean): void => {
    if (tty) stream.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else if (verbose || key !== phase) stream.write(`${text}\n`);
    phase = key;
  };
  return (e) => {
    switch (e.phase) {
      case 'download':
        show('download', `download ${bar(e.loadedBytes, e.totalBytes)} ${(e.loadedBytes / MIB).toFixed(1)}/${(e.totalBytes / MIB).toFixed(1)} MiB ${e.component}${e.fromCache ? ' (cache)' : ''}`, false);
        break;
      case 'warning':
        stream.write(`${tty ? '\n' : ''}warning: ${e.message}\n`);
        break;
      case 'compile':
        show('compile', `compile ${e.what} ${e.done}/${e.total}`, false);
        break;
      case 'ready':
        show('ready', `ready: ${e.model} (${e.variant}) in ${Math.round(e.ms)} ms`, true);
        break;
      case 'text':
        show('text', `text ${e.encoder}`, false);
        break;
      case 'denoise':
        if (e.preview) return;
        show('denoise', `denoise ${bar(e.step, e.steps)} ${e.step}/${e.steps} ${Math.round(e.elapsedMs / Math.max(1, e.step))} ms/step`, false);
        break;
      case 'decode':
        show('decode', `decode ${bar(e.band, e.bands)} band ${e.band}/${e.bands}`, false);
        break;
      case 'done':
        show('done', `done in ${Math.round(e.totalMs)} ms`, true);
        break;
    }
  };
}

export interface WrittenImage {
  readonly id: string;
  readonly file: string;
  readonly seed: number;
  readonly parameters: string;
}

/** Runs the job on one pipeline; returns what was written. */
export async function runGenerateJob(pipeline: Pipeline, a: GenerateArgs, log: (line: string) => void): Promise<{ images: WrittenImage[]; results: GenerateResult[] }> {
  if (a.outDir) await mkdir(a.outDir, { recursive: true });
  const written: WrittenImage[] = [];
  const results: GenerateResult[] = [];
  for (const entry of a.job.entries) {
    const seed = entry.seed ?? a.seed;
    const negativePrompt = entry.negativePrompt ?? a.negativePrompt;
    const result = await pipeline.generate({
      ...a.shared,
      prompt: entry.prompt,
      ...(seed !== undefined ? { seed } : {}),
      ...(negativePrompt !== undefined ? { negativePrompt } : {}),
    });
    results.push(result);
    for (const [i, image] of result.images.entries()) {
      const file = a.job.path(entry.id, i, result.images.length);
      const imageSeed = result.seeds[i] as number;
      // Each file records its own seed, so it reproduces alone.
      const parameters = result.parameters.replace(/Seed: \d+/, `Seed: ${imageSeed}`);
      if (!a.job.batch) await mkdir(dirname(file), { recursive: true });
      await writeFile(file, encodePngFile(image, parameters));
      written.push({ id: entry.id, file, seed: imageSeed, parameters });
      if (a.job.batch || !a.json) log(`wrote ${file} (seed ${imageSeed}, ${Math.round(result.timings.totalMs)} ms)`);
    }
  }
  return { images: written, results };
}

/** `generate` → exit status (0 written, 1 failed, 2 bad usage). */
export async function runGenerate(argv: readonly string[]): Promise<number> {
  const report = (error: unknown): number => {
    if (!(error instanceof MmditError)) throw error;
    const usage = error instanceof InvalidArgumentError;
    console.error(`generate: ${error.name}: ${error.message}${usage ? `\n${GENERATE_USAGE}` : ''}`);
    return usage ? 2 : 1;
  };
  let args: GenerateArgs | 'help';
  try {
    args = await parseGenerate(argv);
  } catch (error) {
    return report(error);
  }
  if (args === 'help') {
    console.log(GENERATE_USAGE);
    return 0;
  }
  const onProgress = progressPrinter(process.stderr, !args.job.batch);
  let pipeline: Pipeline;
  try {
    pipeline = await createPipeline({ ...args.pipeline, onProgress });
  } catch (error) {
    return report(error);
  }
  try {
    const { images, results } = await runGenerateJob(pipeline, args, (line) => console.error(line));
    if (args.json) {
      console.log(JSON.stringify({
        model: pipeline.info.model,
        variant: pipeline.info.variant,
        adapter: pipeline.info.adapter,
        images,
        timings: results.map((r) => r.timings),
        peakGpuBytes: results.map((r) => r.peakGpuBytes),
      }, null, 2));
    }
    return 0;
  } catch (error) {
    return report(error);
  } finally {
    pipeline.dispose();
  }
}
