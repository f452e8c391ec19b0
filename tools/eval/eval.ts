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
import { MmditError } from '../../src/errors.js';
import { EvalUsageError } from '../world/errors.js';
import { evaluationSet, validationSet } from '../world/eval-set.js';
import { engineSource, folderSource, groundTruthSource, type ImageSource } from './generators.js';
import { HELP, parseEvalArgs } from './args.js';
import { formatReport, reportJson, runEvaluation } from './run.js';

async function main(argv: string[]): Promise<number> {
  const a = parseEvalArgs(argv);
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  const slots = a.validation ? validationSet(a.slots) : evaluationSet(a.slots);
  const outDir = resolve(a.outDir ?? mkdtempSync(join(tmpdir(), 'mmdit-eval-')));
  let source: ImageSource;
  if (a.source === 'gt') source = groundTruthSource();
  else if (a.source === 'images') source = folderSource(resolve(a.images!));
  else {
    source = await engineSource({
      ...(a.model !== undefined ? { model: a.model } : {}),
      ...(a.guidanceScale !== undefined ? { guidanceScale: a.guidanceScale } : {}),
      ...(a.shift !== undefined ? { shift: a.shift } : {}),
      ...(a.steps !== undefined ? { numInferenceSteps: a.steps } : {}),
      ...(a.cacheDir !== undefined ? { cacheDir: a.cacheDir } : {}),
    });
  }
  try {
    console.log(`${a.validation ? 'validation' : 'evaluation'} set: ${slots.length} prompt slots × 4 images; pictures: ${source.description}`);
    console.log(`prompt file and per-image results: ${outDir}`);
    const report = await runEvaluation(slots, source, { outDir, savePngs: a.saveImages, log: (l) => console.log(l) });
    console.log(`\n${formatReport(report)}\n${report.summary.images} images in ${report.seconds.toFixed(1)} s (${((1000 * report.seconds) / report.summary.images).toFixed(0)} ms per image)`);
    if (a.json !== undefined) writeFileSync(resolve(a.json), JSON.stringify(reportJson(report), null, 2) + '\n');
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
