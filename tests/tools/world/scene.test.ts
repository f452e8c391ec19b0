import { describe, expect, it } from 'vitest';
import { allPrompts, isHeldOutSpec, promptsFor, samplePrompt } from '../../../tools/world/captions.js';
import { SceneSamplingError } from '../../../tools/world/errors.js';
import { Rng } from '../../../tools/world/random.js';
import { boxGap, relationHolds, sampleScene, sceneLayoutValid } from '../../../tools/world/scene.js';
import { relativePosition } from '../../../tools/world/score.js';
import { CATEGORIES, isHeldOutColourShape, type SceneObject } from '../../../tools/world/world.js';

const box = (o: SceneObject): [number, number, number, number] => [o.cx - o.r, o.cy - o.r, o.cx + o.r, o.cy + o.r];

describe('scene sampler', () => {
  it('is deterministic per seed', () => {
    const spec = allPrompts('counting')[5]!;
    expect(sampleScene(spec, new Rng(7))).toEqual(sampleScene(spec, new Rng(7)));
    expect(sampleScene(spec, new Rng(7))).not.toEqual(sampleScene(spec, new Rng(8)));
  });

  it('keeps sizes, margins, gaps, background range and what the caption asks for', () => {
    const rng = new Rng(99);
    for (const category of CATEGORIES) {
      for (let k = 0; k < 150; k++) {
        const spec = samplePrompt(category, rng);
        const scene = sampleScene(spec, rng);
        const n = spec.objects.reduce((s, o) => s + o.count, 0);
        expect(scene.objects.length).toBe(n);
        expect(sceneLayoutValid(scene)).toBe(true);
        for (const o of scene.objects) {
          expect(o.r).toBeGreaterThanOrEqual(n <= 2 ? 6 : 5);
          expect(o.r).toBeLessThanOrEqual(n <= 2 ? 10 : 8);
          expect(o.cx - o.r).toBeGreaterThanOrEqual(1);
          expect(o.cy + o.r).toBeLessThanOrEqual(63);
        }
        for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(boxGap(scene.objects[i]!, scene.objects[j]!)).toBeGreaterThanOrEqual(3);
        const g = (scene.bg[0] + scene.bg[1] + scene.bg[2]) / 3;
        expect(g).toBeGreaterThanOrEqual(134);
        expect(g).toBeLessThanOrEqual(191);
        expect(Math.max(...scene.bg) - Math.min(...scene.bg)).toBeLessThanOrEqual(12);
        // Objects in caption order, with the stated shapes and colours.
        let at = 0;
        for (const req of spec.objects) {
          for (let c = 0; c < req.count; c++, at++) {
            expect(scene.objects[at]!.shape).toBe(req.shape);
            if (req.colour) expect(scene.objects[at]!.colour).toBe(req.colour);
          }
        }
        if (spec.relation) {
          const [a, b] = scene.objects as [SceneObject, SceneObject];
          expect(relationHolds(a, b, spec.relation)).toBe(true);
          // The generation rule is strict enough for GenEval's rule on the exact boxes.
          expect(relativePosition(box(a), box(b)).has(spec.relation)).toBe(true);
          const horizontal = spec.relation === 'left of' || spec.relation === 'right of';
          const main = Math.abs(horizontal ? a.cx - b.cx : a.cy - b.cy);
          const across = Math.abs(horizontal ? a.cy - b.cy : a.cx - b.cx);
          expect(main).toBeGreaterThan(0.3 * (2 * a.r + 2 * b.r) + 2);
          expect(across).toBeLessThan(main / 2);
        }
        if (category === 'color_attr') expect(scene.objects[0]!.colour).not.toBe(scene.objects[1]!.colour);
        if (category === 'two_object' || category === 'position' || category === 'color_attr') {
          expect(scene.objects[0]!.shape).not.toBe(scene.objects[1]!.shape);
        }
      }
    }
  });

  it('in training mode never draws a held-out pair or a held-out caption', () => {
    const rng = new Rng(2024);
    let objects = 0;
    for (let k = 0; k < 1200; k++) {
      const category = CATEGORIES[k % CATEGORIES.length]!;
      const spec = samplePrompt(category, rng, 'train');
      expect(isHeldOutSpec(spec)).toBe(false);
      for (const o of sampleScene(spec, rng, 'train').objects) {
        expect(isHeldOutColourShape(o.colour, o.shape)).toBe(false);
        objects++;
      }
    }
    expect(objects).toBeGreaterThan(2000);
    // Eval mode does draw them (a white circle for free colours, given enough draws).
    const evalRng = new Rng(3);
    const colours = new Set<string>();
    for (let k = 0; k < 200; k++) colours.add(sampleScene(allPrompts('single_object')[0]!, evalRng).objects[0]!.colour);
    expect(colours.has('white')).toBe(true);
    expect(promptsFor('colors', 'train').length).toBe(28);
  });

  it('refuses what no scene can be', () => {
    const rng = new Rng(1);
    expect(() => sampleScene({ objects: [{ shape: 'circle', count: 5 }] }, rng)).toThrow(SceneSamplingError);
    expect(() => sampleScene({ objects: [{ shape: 'circle', count: 3 }], relation: 'above' }, rng)).toThrow(SceneSamplingError);
    expect(() => sampleScene({ objects: [{ shape: 'circle', count: 1, colour: 'white' }] }, rng, 'train')).toThrow(SceneSamplingError);
  });
});
