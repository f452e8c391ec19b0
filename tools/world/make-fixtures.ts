/**
 * Writes tests/fixtures/world/scenes.json (see fixtures.ts).
 *
 *   npx vite-node tools/world/make-fixtures.ts [-- --out <file.json>]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeFixtures } from './fixtures.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { out: { type: 'string', default: 'tests/fixtures/world/scenes.json' } },
  strict: true,
  allowPositionals: false,
});
const out = resolve(values.out);
mkdirSync(dirname(out), { recursive: true });
const fixtures = makeFixtures();
writeFileSync(out, JSON.stringify(fixtures, null, 1) + '\n');
console.log(`${fixtures.length} scenes -> ${out}`);
