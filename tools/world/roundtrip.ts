/**
 * Detector scores on round trips (the VAE's encode + decode of ground-truth renders):
 *
 *   npx vite-node tools/world/roundtrip.ts -- write --out <dir> [--count 600] [--seed 1]
 *       writes <id>.json ({prompt, bg, objects}) and the exact render <id>.png for seeded prompts of
 *       all six categories
 *   npx vite-node tools/world/roundtrip.ts -- score --scenes <dir> [--images <dir>] [--json <file>]
 *       detects in <images>/<id>.png (default: the scenes folder) and prints, per category, the share
 *       judged correct for the prompt by GenEval's rules, and the share whose detections match the
 *       scene exactly
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MmditError } from '../../src/errors.js';
import { EvalUsageError } from './errors.js';
import { scoreRoundTrip, writeGroundTruth } from './roundtrip-score.js';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv.filter((a, i) => !(a === '--' && i === 0));
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: 'string' },
      count: { type: 'string', default: '600' },
      seed: { type: 'string', default: '1' },
      scenes: { type: 'string' },
      images: { type: 'string' },
      json: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (command === 'write') {
    const count = Number(values.count);
    const seed = Number(values.seed);
    if (values.out === undefined) throw new EvalUsageError('write needs --out <dir>');
    if (!Number.isInteger(count) || count < 1) throw new EvalUsageError(`--count must be a positive integer, got "${values.count}"`);
    if (!Number.isInteger(seed)) throw new EvalUsageError(`--seed must be an integer, got "${values.seed}"`);
    const ids = writeGroundTruth(resolve(values.out), count, seed);
    console.log(`${ids.length} scenes (.json) and renders (.png) -> ${resolve(values.out)}`);
    return 0;
  }
  if (command === 'score') {
    if (values.scenes === undefined) throw new EvalUsageError('score needs --scenes <dir>');
    const r = scoreRoundTrip(resolve(values.scenes), resolve(values.images ?? values.scenes));
    for (const [c, v] of Object.entries(r.categories)) console.log(`  ${c.padEnd(14)} ${v.toFixed(3)}`);
    console.log(`  ${'overall'.padEnd(14)} ${r.overall.toFixed(3)}`);
    console.log(`  ${'scene match'.padEnd(14)} ${r.sceneMatch.toFixed(3)}  (${r.images} images)`);
    for (const f of r.failures.slice(0, 10)) console.log(`  ${f.id}: ${f.reasons.join('; ')}`);
    if (values.json !== undefined) writeFileSync(resolve(values.json), JSON.stringify({ ...r, failures: r.failures.slice(0, 100) }, null, 2) + '\n');
    return 0;
  }
  throw new EvalUsageError(`the first argument is write or score, got "${command ?? ''}"`);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error: unknown) {
  const usage = error instanceof EvalUsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  console.error(error instanceof MmditError || usage ? `${(error as Error).name}: ${(error as Error).message}` : error);
  process.exitCode = usage ? 2 : 1;
}
