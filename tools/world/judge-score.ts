/**
 * Verdicts for a folder of pictures of any world prompts, one per picture: what training tools use
 * to keep only the pictures that show their caption (tools/train/distill.py's `--filter`). The
 * command line is judge.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrompt } from './captions.js';
import { checkImage } from './check.js';
import { EvalSourceError, EvalUsageError } from './errors.js';
import type { Detection } from './detector.js';
import { decodePng } from './png.js';
import { CATEGORIES, type Category } from './world.js';

export interface JudgeEntry {
  id: string;
  prompt: string;
}

export interface JudgeResult {
  verdicts: Record<string, boolean>;
  /** What the detector found in each picture (tools/train/reward.py labels its judge's pictures with them). */
  detections: Record<string, Detection[]>;
  perCategory: Record<Category, { images: number; correct: number }>;
}

/** Reads a batch prompt file, `[{"id", "prompt", …}]`. */
export function readJudgeEntries(file: string): JudgeEntry[] {
  if (!existsSync(file)) throw new EvalSourceError(`--prompts: no file ${file}`);
  const list: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(list)) throw new EvalUsageError(`--prompts ${file}: expected a JSON array of {"id", "prompt"}`);
  return list.map((e: unknown, i) => {
    const r = e as { id?: unknown; prompt?: unknown } | null;
    if (typeof r?.id !== 'string' || typeof r.prompt !== 'string') {
      throw new EvalUsageError(`--prompts ${file}: entry ${i} needs a string "id" and "prompt"`);
    }
    return { id: r.id, prompt: r.prompt };
  });
}

/** Judges `<imagesDir>/<id>.png` against its prompt, by GenEval's rules, for every entry. */
export function judgeFolder(entries: readonly JudgeEntry[], imagesDir: string): JudgeResult {
  const verdicts: Record<string, boolean> = {};
  const detections: Record<string, Detection[]> = {};
  const perCategory = Object.fromEntries(CATEGORIES.map((c) => [c, { images: 0, correct: 0 }])) as JudgeResult['perCategory'];
  for (const { id, prompt } of entries) {
    const spec = parsePrompt(prompt);
    const file = join(imagesDir, `${id}.png`);
    if (!existsSync(file)) throw new EvalSourceError(`--images: ${file} is missing (prompt "${prompt}")`);
    const check = checkImage(spec, decodePng(new Uint8Array(readFileSync(file)), file));
    verdicts[id] = check.correct;
    detections[id] = check.detections;
    perCategory[spec.category].images++;
    if (check.correct) perCategory[spec.category].correct++;
  }
  return { verdicts, detections, perCategory };
}
