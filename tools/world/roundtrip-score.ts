/**
 * The detector on pictures that went through something (the VAE's encode + decode, mostly): a folder
 * of ground-truth scenes as `<id>.json` (the shared scene JSON, plus its "prompt"), and the pictures
 * made from them as `<id>.png`. The command line is roundtrip.ts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrompt, type PromptSpec } from './captions.js';
import { checkImage } from './check.js';
import { detect } from './detector.js';
import { EvalSourceError } from './errors.js';
import { groundTruthCases } from './gt-score.js';
import { decodePng, encodePngRgb } from './png.js';
import { renderScene } from './render.js';
import { matchScene } from './scene-match.js';
import { summarise } from './score.js';
import { CANVAS, CATEGORIES, type Scene } from './world.js';

export interface RoundTripSummary {
  images: number;
  /** GenEval verdicts of the images whose scene JSON has a prompt. */
  categories: Record<string, number>;
  overall: number;
  /** Share of images whose detections match their scene exactly. */
  sceneMatch: number;
  failures: { id: string; reasons: string[] }[];
}

/** Writes `count` ground-truth cases: `<id>.json` ({prompt, bg, objects}) and `<id>.png`. */
export function writeGroundTruth(dir: string, count: number, seed: number): string[] {
  mkdirSync(dir, { recursive: true });
  return groundTruthCases(count, seed).map(({ spec, scene }, k) => {
    const id = `${spec.category}_${String(k).padStart(5, '0')}`;
    writeFileSync(join(dir, `${id}.json`), JSON.stringify({ prompt: spec.prompt, ...scene }) + '\n');
    writeFileSync(join(dir, `${id}.png`), encodePngRgb(renderScene(scene), CANVAS, CANVAS));
    return id;
  });
}

/** Scores every `<id>.json` of `scenesDir` against `imagesDir/<id>.png`. */
export function scoreRoundTrip(scenesDir: string, imagesDir = scenesDir): RoundTripSummary {
  if (!existsSync(scenesDir)) throw new EvalSourceError(`--scenes: no folder ${scenesDir}`);
  const ids = readdirSync(scenesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
  if (ids.length === 0) throw new EvalSourceError(`--scenes: no <id>.json scene files in ${scenesDir}`);
  const judged: { spec: PromptSpec; correct: boolean }[] = [];
  const failures: RoundTripSummary['failures'] = [];
  let matched = 0;
  for (const id of ids) {
    const json = JSON.parse(readFileSync(join(scenesDir, `${id}.json`), 'utf8')) as Scene & { prompt?: string };
    const file = join(imagesDir, `${id}.png`);
    if (!existsSync(file)) throw new EvalSourceError(`${file} is missing (scene ${id}.json)`);
    const png = decodePng(new Uint8Array(readFileSync(file)), file);
    const reasons: string[] = [];
    if (json.prompt !== undefined) {
      const check = checkImage(parsePrompt(json.prompt), png);
      judged.push({ spec: check.spec, correct: check.correct });
      reasons.push(...check.reasons);
    }
    const m = matchScene(json, detect(png));
    if (m.correct) matched++;
    else reasons.push(...m.missing.map((s) => `missing ${s}`), ...m.extra.map((s) => `extra ${s}`));
    if (reasons.length) failures.push({ id, reasons });
  }
  const s = summarise(judged);
  const categories: Record<string, number> = {};
  for (const c of CATEGORIES) if (!Number.isNaN(s.categories[c])) categories[c] = s.categories[c];
  return { images: ids.length, categories, overall: s.overall, sceneMatch: matched / ids.length, failures };
}

