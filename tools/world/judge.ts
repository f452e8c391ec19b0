/**
 * One verdict per picture, for any world prompts:
 *
 *   npx vite-node tools/world/judge.ts -- --prompts <file.json> --images <dir> --out <verdicts.json>
 *                                         [--detections <detections.json>]
 *
 * `--prompts` is `[{"id", "prompt"}]` (the batch prompt format); each picture is `<images>/<id>.png`.
 * Writes `{"<id>": true | false}` and prints the share correct per category; `--detections` also writes
 * `{"<id>": [{"shape", "colour", "cx", "cy", "r", …}]}`, what the detector found in each picture.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MmditError } from '../../src/errors.js';
import { EvalUsageError } from './errors.js';
import { judgeFolder, readJudgeEntries } from './judge-score.js';
import { CATEGORIES } from './world.js';

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv.filter((a, i) => !(a === '--' && i === 0)),
    options: {
      prompts: { type: 'string' },
      images: { type: 'string' },
      out: { type: 'string' },
      detections: { type: 'string' },
    },
  });
  if (!values.prompts || !values.images || !values.out) {
    throw new EvalUsageError('usage: judge.ts --prompts <file.json> --images <dir> --out <verdicts.json> [--detections <file.json>]');
  }
  const { verdicts, detections, perCategory } = judgeFolder(readJudgeEntries(resolve(values.prompts)), resolve(values.images));
  writeFileSync(resolve(values.out), JSON.stringify(verdicts) + '\n');
  if (values.detections) writeFileSync(resolve(values.detections), JSON.stringify(detections) + '\n');
  for (const c of CATEGORIES) {
    const { images, correct } = perCategory[c];
    if (images > 0) console.log(`  ${c.padEnd(14)} ${(correct / images).toFixed(3)}  (${correct}/${images})`);
  }
  const all = Object.values(verdicts);
  console.log(`  ${'all'.padEnd(14)} ${(all.filter(Boolean).length / all.length).toFixed(3)}  (${all.length} pictures)`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error: unknown) {
  const usage = error instanceof EvalUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  console.error(error instanceof MmditError || usage ? `${(error as Error).name}: ${(error as Error).message}` : error);
  process.exitCode = usage ? 2 : 1;
}
