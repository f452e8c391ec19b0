import { describe, expect, it } from 'vitest';
import { EvalUsageError } from '../../../tools/world/errors.js';
import {
  EVAL_SEED_BASE,
  VALIDATION_SEED_BASE,
  evaluationSet,
  promptFile,
  slotImages,
  validationSet,
} from '../../../tools/world/eval-set.js';
import { CATEGORIES, HELD_OUT_COLOUR_SHAPES } from '../../../tools/world/world.js';

describe('evaluation set', () => {
  const slots = evaluationSet();
  const images = slotImages(slots);

  it('has 24 slots per category, 4 images each, with seed + i', () => {
    for (const c of CATEGORIES) expect(slots.filter((s) => s.spec.category === c).length).toBe(24);
    expect(images.length).toBe(6 * 24 * 4);
    for (const s of slots) {
      const own = images.filter((im) => im.slot === s);
      expect(own.map((im) => im.seed)).toEqual([s.seed, s.seed + 1, s.seed + 2, s.seed + 3]);
    }
    expect(new Set(images.map((im) => im.seed)).size).toBe(images.length);
    expect(new Set(images.map((im) => im.id)).size).toBe(images.length);
    expect(Math.min(...images.map((im) => im.seed))).toBe(EVAL_SEED_BASE);
  });

  it('uses only held-out combinations for colors, position and color_attr', () => {
    for (const s of slots) {
      const held = ['colors', 'position', 'color_attr'].includes(s.spec.category);
      expect(s.heldout, s.spec.prompt).toBe(held);
    }
    // Every held-out colours and position prompt appears, in equal numbers.
    const count = (c: string) => {
      const m = new Map<string, number>();
      for (const s of slots.filter((x) => x.spec.category === c)) m.set(s.spec.prompt, (m.get(s.spec.prompt) ?? 0) + 1);
      return [...m.values()];
    };
    expect(count('colors')).toEqual([6, 6, 6, 6]);
    expect(count('position')).toEqual(Array(8).fill(3));
    expect(count('single_object')).toEqual([6, 6, 6, 6]);
    expect(count('two_object')).toEqual(Array(12).fill(2));
    expect(count('counting')).toEqual(Array(12).fill(2));
    expect(count('color_attr')).toEqual(Array(24).fill(1));
    // color_attr: each held-out pair leads six of its slots.
    const attr = slots.filter((s) => s.spec.category === 'color_attr');
    for (const [colour, shape] of HELD_OUT_COLOUR_SHAPES) {
      expect(attr.filter((s) => s.spec.objects.some((o) => o.colour === colour && o.shape === shape)).length).toBeGreaterThanOrEqual(6);
    }
  });

  it('is fixed', () => {
    expect(evaluationSet()).toEqual(slots);
    expect(promptFile(images)[0]).toEqual({ id: 'single_object_00_0', prompt: 'a photo of a circle', seed: EVAL_SEED_BASE });
  });

  it('has a separate validation set: other seeds, other color_attr prompts', () => {
    const val = validationSet();
    expect(val.length).toBe(6 * 8);
    const valImages = slotImages(val);
    const evalSeeds = new Set(images.map((im) => im.seed));
    expect(valImages.some((im) => evalSeeds.has(im.seed))).toBe(false);
    expect(Math.min(...valImages.map((im) => im.seed))).toBe(VALIDATION_SEED_BASE);
    const evalAttr = new Set(slots.filter((s) => s.spec.category === 'color_attr').map((s) => s.spec.prompt));
    expect(val.filter((s) => s.spec.category === 'color_attr' && evalAttr.has(s.spec.prompt))).toEqual([]);
    expect(val.every((s) => s.heldout === ['colors', 'position', 'color_attr'].includes(s.spec.category))).toBe(true);
  });

  it('refuses impossible sizes', () => {
    expect(() => evaluationSet(0)).toThrow(EvalUsageError);
    expect(() => validationSet(2.5)).toThrow(EvalUsageError);
  });
});
