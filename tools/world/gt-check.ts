/**
 * Prints the detector's score on seeded ground-truth renders, per category.
 *
 *   npx vite-node tools/world/gt-check.ts [-- --per-category 1000 --seed 17]
 */
import { parseArgs } from 'node:util';
import { groundTruthCases, scoreGroundTruth } from './gt-score.js';
import { CATEGORIES } from './world.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { 'per-category': { type: 'string', default: '1000' }, seed: { type: 'string', default: '17' } },
  strict: true,
});
const per = Number(values['per-category']);
const seed = Number(values.seed);
if (!Number.isInteger(per) || per < 1 || !Number.isInteger(seed)) {
  console.error('--per-category must be a positive integer and --seed an integer');
  process.exit(2);
}
const t0 = performance.now();
const { summary, failures } = scoreGroundTruth(groundTruthCases(per * CATEGORIES.length, seed));
for (const c of CATEGORIES) console.log(`${c.padEnd(14)} ${summary.categories[c].toFixed(4)}`);
console.log(`${'overall'.padEnd(14)} ${summary.overall.toFixed(4)}`);
console.log(`${'held-out'.padEnd(14)} ${summary.heldout.toFixed(4)} (${summary.heldoutImages} images)`);
console.log(`${summary.images} renders in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${failures.length} wrong`);
for (const f of failures.slice(0, 10)) console.log(`  ${f.prompt}: ${f.reasons.join('; ')} ${JSON.stringify(f.scene)}`);
