/**
 * Checks scenes drawn by another sampler against WORLD.md (see validate.ts).
 *
 *   npx vite-node tools/world/validate-scenes.ts -- --scenes <file.json> [--train]
 *
 * <file.json> is a list of {"prompt", "bg", "objects"} (the prompt "" for a dropped caption). With
 * --train, held-out pairs and prompts are violations too. Exit status 1 when any scene breaks a rule.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EvalUsageError } from './errors.js';
import { sceneViolations } from './validate.js';
import type { Scene } from './world.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a, i) => !(a === '--' && i === 0)),
  options: { scenes: { type: 'string' }, train: { type: 'boolean', default: false } },
  strict: true,
  allowPositionals: false,
});
if (values.scenes === undefined) throw new EvalUsageError('--scenes <file.json> is required');
const scenes = JSON.parse(readFileSync(resolve(values.scenes), 'utf8')) as (Scene & { prompt: string })[];
let bad = 0;
scenes.forEach((s, k) => {
  const v = sceneViolations(s, s.prompt, values.train ? 'train' : 'eval');
  if (v.length) {
    bad++;
    if (bad <= 20) console.log(`scene ${k} ("${s.prompt}"): ${v.join('; ')}`);
  }
});
console.log(`${scenes.length - bad}/${scenes.length} scenes keep the world's rules${values.train ? ' (training mode)' : ''}`);
process.exitCode = bad ? 1 : 0;
