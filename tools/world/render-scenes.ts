/**
 * Renders scene JSON with the reference renderer, for comparing another renderer pixel by pixel.
 *
 *   npx vite-node tools/world/render-scenes.ts -- --scenes <file.json> --out-dir <dir> [--raw]
 *
 * <file.json> holds one scene, a list of scenes, or the fixture list ([{name, scene, sha256}]).
 * Writes <k>.png (or <k>.rgb: 64·64·3 bytes, row-major) for the k-th scene, and prints each SHA-256.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EvalUsageError } from './errors.js';
import { encodePngRgb } from './png.js';
import { renderScene } from './render.js';
import { CANVAS, type Scene } from './world.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a, i) => !(a === '--' && i === 0)),
  options: { scenes: { type: 'string' }, 'out-dir': { type: 'string' }, raw: { type: 'boolean', default: false } },
  strict: true,
  allowPositionals: false,
});
if (values.scenes === undefined || values['out-dir'] === undefined) throw new EvalUsageError('--scenes <file.json> and --out-dir <dir> are required');
const parsed = JSON.parse(readFileSync(resolve(values.scenes), 'utf8')) as Scene | (Scene | { scene: Scene })[];
const scenes = (Array.isArray(parsed) ? parsed : [parsed]).map((s) => ('scene' in s ? s.scene : s));
const out = resolve(values['out-dir']);
mkdirSync(out, { recursive: true });
scenes.forEach((scene, k) => {
  const rgb = renderScene(scene);
  writeFileSync(join(out, values.raw ? `${k}.rgb` : `${k}.png`), values.raw ? rgb : encodePngRgb(rgb, CANVAS, CANVAS));
  console.log(`${k} ${createHash('sha256').update(rgb).digest('hex')}`);
});
