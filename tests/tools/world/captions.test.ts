import { describe, expect, it } from 'vitest';
import {
  allPrompts,
  colorAttrPrompt,
  isHeldOut,
  isWorldPrompt,
  parsePrompt,
  positionPrompt,
  promptsFor,
  toGenevalMetadata,
} from '../../../tools/world/captions.js';
import { CaptionError } from '../../../tools/world/errors.js';
import { CATEGORIES } from '../../../tools/world/world.js';

describe('captions', () => {
  it('enumerates every prompt of the six templates', () => {
    const sizes = Object.fromEntries(CATEGORIES.map((c) => [c, allPrompts(c).length]));
    expect(sizes).toEqual({ single_object: 4, two_object: 12, counting: 12, colors: 32, position: 48, color_attr: 672 });
    for (const c of CATEGORIES) expect(new Set(allPrompts(c).map((p) => p.prompt)).size).toBe(allPrompts(c).length);
  });

  it('writes the templates as WORLD.md does', () => {
    const prompts = CATEGORIES.flatMap((c) => allPrompts(c).map((p) => p.prompt));
    expect(prompts).toContain('a photo of a circle');
    expect(prompts).toContain('a photo of a cross and a triangle');
    expect(prompts).toContain('a photo of four crosses');
    expect(prompts).toContain('a photo of an orange square');
    expect(prompts).toContain('a photo of a square left of a triangle');
    expect(prompts).toContain('a photo of an orange circle and a blue cross');
    expect(prompts.filter((p) => / a orange/.test(p) || / an (?!orange)/.test(p))).toEqual([]);
  });

  it('parses every prompt back into its requirements', () => {
    for (const c of CATEGORIES) for (const spec of allPrompts(c)) expect(parsePrompt(spec.prompt)).toEqual(spec);
    expect(parsePrompt('a photo of three triangles')).toEqual({
      category: 'counting',
      prompt: 'a photo of three triangles',
      objects: [{ shape: 'triangle', count: 3 }],
    });
    expect(parsePrompt('a photo of a cross below a circle').relation).toBe('below');
  });

  it('rejects what the templates never write', () => {
    for (const bad of [
      '',
      'a photo of a orange circle',
      'a photo of an red circle',
      'a photo of two circle',
      'a photo of a circle and a circle',
      'a photo of a red circle and a red square',
      'a photo of a square left of a square',
      'a photo of a hexagon',
      'A photo of a circle',
      'a photo of a circle ',
    ]) {
      expect(() => parsePrompt(bad), bad).toThrow(CaptionError);
      expect(isWorldPrompt(bad)).toBe(false);
    }
  });

  it('classifies held-out prompts', () => {
    expect(isHeldOut('a photo of a purple triangle')).toBe(true);
    expect(isHeldOut('a photo of a yellow square')).toBe(true);
    expect(isHeldOut('a photo of a white circle')).toBe(true);
    expect(isHeldOut('a photo of a green cross')).toBe(true);
    expect(isHeldOut('a photo of a purple square')).toBe(false);
    expect(isHeldOut('a photo of a square above a triangle')).toBe(true);
    expect(isHeldOut('a photo of a cross right of a circle')).toBe(true);
    expect(isHeldOut('a photo of a triangle above a square')).toBe(false);
    expect(isHeldOut('a photo of a red square and a green cross')).toBe(true);
    expect(isHeldOut('a photo of a green square and a red cross')).toBe(false);
    // No held-out combinations in the other three categories, even with held-out shapes in them.
    expect(isHeldOut('a photo of a square and a triangle')).toBe(false);
    expect(isHeldOut('a photo of two crosses')).toBe(false);
    const held = (c: (typeof CATEGORIES)[number]): number => allPrompts(c).filter((p) => isHeldOut(p.prompt)).length;
    expect(held('colors')).toBe(4);
    expect(held('position')).toBe(8);
    // Per ordered shape pair: 7 + 7 − 1 colour pairs hold one of the two shapes' held-out colours.
    expect(held('color_attr')).toBe(12 * 13);
    expect(promptsFor('color_attr', 'train').length).toBe(672 - 156);
    expect(promptsFor('position', 'train').some((p) => isHeldOut(p.prompt))).toBe(false);
  });

  it('gives GenEval metadata: the reference object first for position, an exclusion for counting', () => {
    expect(toGenevalMetadata(positionPrompt('circle', 'left of', 'square'))).toEqual({
      tag: 'position',
      prompt: 'a photo of a circle left of a square',
      include: [{ class: 'square', count: 1 }, { class: 'circle', count: 1, position: ['left of', 0] }],
    });
    expect(toGenevalMetadata(parsePrompt('a photo of four circles')).exclude).toEqual([{ class: 'circle', count: 5 }]);
    expect(toGenevalMetadata(colorAttrPrompt('orange', 'cross', 'blue', 'circle')).include).toEqual([
      { class: 'cross', count: 1, color: 'orange' },
      { class: 'circle', count: 1, color: 'blue' },
    ]);
  });
});
