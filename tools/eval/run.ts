/**
 * The evaluation: for each slot of a set, get its pictures, detect, judge by GenEval's rules, and
 * summarise per category, overall and held-out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkImage } from '../world/check.js';
import type { Detection } from '../world/detector.js';
import { promptFile, slotImages, type EvalSlot } from '../world/eval-set.js';
import { encodePngRgb } from '../world/png.js';
import { summarise, type ScoreSummary } from '../world/score.js';
import { CATEGORIES, type Category } from '../world/world.js';
import type { ImageSource } from './generators.js';

export interface ImageRecord {
  id: string;
  prompt: string;
  seed: number;
  category: Category;
  heldout: boolean;
  correct: boolean;
  reasons: string[];
  detections: Detection[];
}

export interface EvalReport {
  summary: ScoreSummary;
  records: ImageRecord[];
  prompts: number;
  seconds: number;
}

export interface RunOptions {
  /** Where the prompt file, per-image results (results.jsonl) and, with savePngs, the pictures go. */
  outDir?: string;
  savePngs?: boolean;
  log?: (line: string) => void;
}

/** Writes the batch prompt file `[{"id","prompt","seed"}]` of a set (one entry per image). */
export function writePromptFile(slots: readonly EvalSlot[], file: string): void {
  writeFileSync(file, JSON.stringify(promptFile(slotImages(slots)), null, 1) + '\n');
}

export async function runEvaluation(slots: readonly EvalSlot[], source: ImageSource, o: RunOptions = {}): Promise<EvalReport> {
  const log = o.log ?? (() => {});
  if (o.outDir) {
    mkdirSync(o.outDir, { recursive: true });
    writePromptFile(slots, join(o.outDir, 'prompts.json'));
  }
  const started = performance.now();
  const records: ImageRecord[] = [];
  const scored: { spec: EvalSlot['spec']; correct: boolean }[] = [];
  for (let s = 0; s < slots.length; s++) {
    const slot = slots[s]!;
    const images = slotImages([slot]);
    const t0 = performance.now();
    const pictures = await source.images(slot, images);
    let right = 0;
    pictures.forEach((picture, i) => {
      const im = images[i]!;
      const check = checkImage(slot.spec, picture);
      if (check.correct) right++;
      scored.push({ spec: slot.spec, correct: check.correct });
      records.push({
        id: im.id,
        prompt: im.prompt,
        seed: im.seed,
        category: slot.spec.category,
        heldout: slot.heldout,
        correct: check.correct,
        reasons: check.reasons,
        detections: check.detections,
      });
      if (o.outDir && o.savePngs) {
        const channels = picture.data.length === picture.width * picture.height * 4 ? 4 : 3;
        writeFileSync(join(o.outDir, `${im.id}.png`), encodePngRgb(new Uint8Array(picture.data.buffer, picture.data.byteOffset, picture.data.length), picture.width, picture.height, channels));
      }
    });
    log(`[${s + 1}/${slots.length}] ${slot.id} "${slot.spec.prompt}": ${right}/${pictures.length} correct (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (o.outDir) writeFileSync(join(o.outDir, 'results.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { summary: summarise(scored), records, prompts: slots.length, seconds: (performance.now() - started) / 1000 };
}

/** The JSON of `npm run eval -- --json`: `{ overall, heldout, categories, prompts, images }`. */
export function reportJson(r: EvalReport): { overall: number; heldout: number; categories: Record<Category, number>; prompts: number; images: number } {
  return { overall: r.summary.overall, heldout: r.summary.heldout, categories: r.summary.categories, prompts: r.prompts, images: r.summary.images };
}

/** The score table as printed. */
export function formatReport(r: EvalReport): string {
  const f = (x: number): string => (Number.isNaN(x) ? '  n/a' : x.toFixed(3));
  const lines = CATEGORIES.map((c) => {
    const n = r.records.filter((x) => x.category === c).length;
    return `  ${c.padEnd(14)} ${f(r.summary.categories[c])}  (${n} images)`;
  });
  lines.push(`  ${'overall'.padEnd(14)} ${f(r.summary.overall)}  (mean of the categories)`);
  lines.push(`  ${'held-out'.padEnd(14)} ${f(r.summary.heldout)}  (${r.summary.heldoutImages} images)`);
  return lines.join('\n');
}
