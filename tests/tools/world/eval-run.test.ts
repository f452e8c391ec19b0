import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engineSource, folderSource, groundTruthSource, type CreatePipeline } from '../../../tools/eval/generators.js';
import { reportJson, runEvaluation } from '../../../tools/eval/run.js';
import { EvalSourceError } from '../../../tools/world/errors.js';
import { evaluationSet } from '../../../tools/world/eval-set.js';
import { Rng } from '../../../tools/world/random.js';
import { renderScene, rgbToRgba } from '../../../tools/world/render.js';
import { sampleScene } from '../../../tools/world/scene.js';
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

  it('asks the engine for each slot with its seed, four images and the overrides', async () => {
    const calls: unknown[] = [];
    const defaults = { width: 64, height: 64, numInferenceSteps: 8, guidanceScale: 5, shift: 3 };
    // A stand-in pipeline that draws the prompt's scene for each seed: the wiring under test is ours.
    const create: CreatePipeline = async (o) => ({
      info: { model: `stand-in for ${o.model}`, defaults },
      async generate(g) {
        calls.push(g);
        const spec = evaluationSet(1).find((s) => s.spec.prompt === g.prompt)!.spec;
        const seeds = Array.from({ length: g.numImagesPerPrompt }, (_, i) => g.seed + i);
        const images = seeds.map((seed) => ({ width: 64, height: 64, data: new Uint8ClampedArray(rgbToRgba(renderScene(sampleScene(spec, new Rng(seed))))) }));
        return { images, seeds };
      },
      dispose: () => {},
    });
    const slots = evaluationSet(1);
    const source = await engineSource({ model: 'bundled', guidanceScale: 3.5, numInferenceSteps: 12 }, create);
    expect(source.description).toBe('stand-in for bundled, 64×64, 12 steps, guidance 3.5, shift 3');
    const report = await runEvaluation(slots, source);
    expect(report.summary.overall).toBe(1);
    expect(calls).toEqual(slots.map((s) => ({ prompt: s.spec.prompt, seed: s.seed, numImagesPerPrompt: 4, numInferenceSteps: 12, guidanceScale: 3.5, shift: 3 })));

    const wrongSeeds: CreatePipeline = async (o) => {
      const p = await create(o);
      return { ...p, generate: async (g) => ({ ...(await p.generate(g)), seeds: [0, 1, 2, 3] }) };
    };
    await expect(runEvaluation(slots, await engineSource({}, wrongSeeds))).rejects.toThrow(EvalSourceError);
  });
});
