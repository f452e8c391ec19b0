import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderSource, groundTruthSource } from '../../../tools/eval/generators.js';
import { reportJson, runEvaluation } from '../../../tools/eval/run.js';
import { EvalSourceError } from '../../../tools/world/errors.js';
import { evaluationSet } from '../../../tools/world/eval-set.js';
import { CATEGORIES } from '../../../tools/world/world.js';

const dir = mkdtempSync(join(tmpdir(), 'mmdit-eval-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('evaluation run', () => {
  it('scores ground-truth renders as fully correct, writing the prompt file and results', async () => {
    const slots = evaluationSet(2);
    const report = await runEvaluation(slots, groundTruthSource(), { outDir: dir, savePngs: true });
    const json = reportJson(report);
    expect(Object.keys(json)).toEqual(['overall', 'heldout', 'categories', 'prompts', 'images']);
    expect(json.prompts).toBe(12);
    expect(json.images).toBe(48);
    expect(json.overall).toBe(1);
    expect(json.heldout).toBe(1);
    for (const c of CATEGORIES) expect(json.categories[c]).toBe(1);
    const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8')) as { id: string; prompt: string; seed: number }[];
    expect(prompts.length).toBe(48);
    expect(Object.keys(prompts[0]!)).toEqual(['id', 'prompt', 'seed']);
    expect(readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').length).toBe(48);

    // The same pictures read back from their PNGs score the same; a prompt they do not show fails.
    const again = await runEvaluation(slots, folderSource(dir));
    expect(reportJson(again)).toEqual(json);
  });

  it('counts a picture that does not show the prompt as wrong', async () => {
    // Slot 0 of single_object is "a photo of a circle"; give it the pictures of two_object slot 0.
    const slots = evaluationSet(2);
    const circle = slots.find((s) => s.spec.prompt === 'a photo of a circle')!;
    const other = slots.find((s) => s.spec.category === 'counting' && !s.spec.objects.some((o) => o.shape === 'circle'))!;
    const gt = groundTruthSource();
    const swapped = { description: 'swapped', images: (_s: unknown, ims: Parameters<typeof gt.images>[1]) => gt.images(other, ims), dispose: () => {} };
    const report = await runEvaluation([circle], swapped);
    expect(report.summary.categories.single_object).toBe(0);
  });

  it('names a missing picture', async () => {
    const slots = evaluationSet(3);
    await expect(runEvaluation(slots, folderSource(dir))).rejects.toThrow(EvalSourceError);
    expect(() => folderSource(join(dir, 'nowhere'))).toThrow(EvalSourceError);
  });
});
