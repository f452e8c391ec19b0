/**
 * npm run eval [-- options]: the bundled model's GenEval-style score, generated with our engine.
 *
 *   --json <file>          also write { overall, heldout, categories, prompts, images }
 *   --validation           the validation set (for choosing guidance and shift), not the evaluation set
 *   --guidance-scale <x>   --shift <x>   --steps <n>   override the model's defaults
 *   --model <id|path>      catalogue id, manifest or model folder (default: the catalogue's default)
 *   --gt                   score ground-truth renders instead of generated pictures (no model)
 *   --images <dir>         score PNGs named <id>.png, as `npm run generate -- --prompts <out-dir>/prompts.json --out-dir <dir>` writes them
 *   --out-dir <dir>        where prompts.json and results.jsonl go (default: a new folder in the system's temp dir)
 *   --save-images          also write each picture to the out-dir as <id>.png
 *   --slots <n>            prompt slots per category (default 24; validation 8), for quick runs
 *   --cache-dir <dir>      shard cache for a model fetched by URL
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MmditError } from '../../src/errors.js';
import { EvalUsageError } from '../world/errors.js';
import { evaluationSet, validationSet } from '../world/eval-set.js';
import { engineSource, folderSource, groundTruthSource, type ImageSource } from './generators.js';
import { formatReport, reportJson, runEvaluation } from './run.js';

const HELP = `usage: npm run eval -- [--json file] [--validation] [--guidance-scale x] [--shift x] [--steps n]
                     [--model id|path] [--gt | --images dir] [--out-dir dir] [--save-images] [--slots n] [--cache-dir dir]`;

function number(name: string, v: string | undefined, check: (x: number) => boolean, allowed: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new EvalUsageError(`--${name} must be ${allowed}, got "${v}"`);
  return x;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv.filter((a, i) => !(a === '--' && i === 0)),
    options: {
      json: { type: 'string' },
      validation: { type: 'boolean', default: false },
      'guidance-scale': { type: 'string' },
      shift: { type: 'string' },
      steps: { type: 'string' },
      model: { type: 'string' },
      gt: { type: 'boolean', default: false },
      images: { type: 'string' },
      'out-dir': { type: 'string' },
      'save-images': { type: 'boolean', default: false },
      slots: { type: 'string' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const guidanceScale = number('guidance-scale', values['guidance-scale'], (x) => x >= 0, 'a number ≥ 0');
  const shift = number('shift', values.shift, (x) => x > 0, 'a number > 0');
  const steps = number('steps', values.steps, (x) => Number.isInteger(x) && x >= 1 && x <= 200, 'an integer in 1–200');
  const slotsPer = number('slots', values.slots, (x) => Number.isInteger(x) && x >= 1 && x <= 96, 'an integer in 1–96');
  if (values.gt && values.images !== undefined) throw new EvalUsageError('--gt and --images are two different sources of pictures; give one');
  if ((values.gt || values.images !== undefined) && (guidanceScale !== undefined || shift !== undefined || steps !== undefined || values.model !== undefined)) {
    throw new EvalUsageError('--guidance-scale, --shift, --steps and --model apply to generated pictures, not to --gt or --images');
  }
  const slots = values.validation ? validationSet(slotsPer) : evaluationSet(slotsPer);
  const outDir = resolve(values['out-dir'] ?? mkdtempSync(join(tmpdir(), 'mmdit-eval-')));
  let source: ImageSource;
  if (values.gt) source = groundTruthSource();
  else if (values.images !== undefined) source = folderSource(resolve(values.images));
  else {
    source = await engineSource({
      ...(values.model !== undefined ? { model: values.model } : {}),
      ...(guidanceScale !== undefined ? { guidanceScale } : {}),
      ...(shift !== undefined ? { shift } : {}),
      ...(steps !== undefined ? { numInferenceSteps: steps } : {}),
      ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
    });
  }
  try {
    console.log(`${values.validation ? 'validation' : 'evaluation'} set: ${slots.length} prompt slots × 4 images; pictures: ${source.description}`);
    console.log(`prompt file and per-image results: ${outDir}`);
    const report = await runEvaluation(slots, source, { outDir, savePngs: values['save-images'], log: (l) => console.log(l) });
    console.log(`\n${formatReport(report)}\n${report.summary.images} images in ${report.seconds.toFixed(1)} s (${((1000 * report.seconds) / report.summary.images).toFixed(0)} ms per image)`);
    if (values.json !== undefined) writeFileSync(resolve(values.json), JSON.stringify(reportJson(report), null, 2) + '\n');
    return 0;
  } finally {
    source.dispose();
  }
}

// Top-level await: vite-node closes its module server once the entry module settles, and the engine
// loads lazily.
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error: unknown) {
  const usage = error instanceof EvalUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  console.error(error instanceof MmditError || usage ? `${(error as Error).name}: ${(error as Error).message}` : error);
  if (usage) console.error(HELP);
  process.exitCode = usage ? 2 : 1;
}
