/**
 * The detector on ground-truth renders: seeded prompts of every category, scenes drawn for them,
 * rendered exactly, detected and judged. What the detector must get right before it judges a model.
 */
import { samplePrompt, type PromptSpec } from './captions.js';
import { checkImage } from './check.js';
import { Rng } from './random.js';
import { renderScene } from './render.js';
import { sampleScene, type SamplingMode } from './scene.js';
import { summarise, type ScoreSummary } from './score.js';
import { CANVAS, CATEGORIES, type Scene } from './world.js';

export interface GroundTruthCase {
  spec: PromptSpec;
  scene: Scene;
}

/** `count` cases spread evenly over the six categories, from one seed. */
export function groundTruthCases(count: number, seed: number, mode: SamplingMode = 'eval'): GroundTruthCase[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, k) => {
    const spec = samplePrompt(CATEGORIES[k % CATEGORIES.length]!, rng, mode);
    return { spec, scene: sampleScene(spec, rng, mode) };
  });
}

export interface GroundTruthReport {
  summary: ScoreSummary;
  failures: { prompt: string; reasons: string[]; scene: Scene }[];
}

export function scoreGroundTruth(cases: readonly GroundTruthCase[]): GroundTruthReport {
  const failures: GroundTruthReport['failures'] = [];
  const images = cases.map(({ spec, scene }) => {
    const check = checkImage(spec, { data: renderScene(scene), width: CANVAS, height: CANVAS });
    if (!check.correct) failures.push({ prompt: spec.prompt, reasons: check.reasons, scene });
    return { spec, correct: check.correct };
  });
  return { summary: summarise(images), failures };
}
