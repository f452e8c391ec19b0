import { describe, expect, it } from 'vitest';
import { samplePrompt } from '../../../tools/world/captions.js';
import { Rng } from '../../../tools/world/random.js';
import { sampleScene } from '../../../tools/world/scene.js';
import { sceneViolations } from '../../../tools/world/validate.js';
import { CATEGORIES, type Scene } from '../../../tools/world/world.js';

describe('scene validation', () => {
  it('passes what the sampler draws, in both modes', () => {
    const rng = new Rng(11);
    for (let k = 0; k < 300; k++) {
      const mode = k % 2 ? 'train' : 'eval';
      const spec = samplePrompt(CATEGORIES[k % 6]!, rng, mode);
      expect(sceneViolations(sampleScene(spec, rng, mode), spec.prompt, mode)).toEqual([]);
    }
  });

  it('names each broken rule', () => {
    const ok: Scene = {
      bg: [160, 161, 158],
      objects: [
        { shape: 'square', colour: 'red', cx: 12, cy: 30, r: 7 },
        { shape: 'circle', colour: 'blue', cx: 46, cy: 31, r: 7 },
      ],
    };
    expect(sceneViolations(ok, 'a photo of a square left of a circle', 'train')).toEqual([]);
    expect(sceneViolations(ok, 'a photo of a square right of a circle', 'eval')).toEqual(['"a photo of a square right of a circle": the relation does not hold by the generation rule']);
    // Object order is free: the circle may come first in the caption.
    expect(sceneViolations(ok, 'a photo of a circle right of a square', 'eval')).toEqual([]);
    expect(sceneViolations({ ...ok, objects: [ok.objects[1]!, ok.objects[0]!] }, 'a photo of a square left of a circle', 'eval')).toEqual([]);
    expect(sceneViolations(ok, 'a photo of a circle and a cross', 'eval')).toEqual(['"a photo of a circle and a cross" asks for 1 cross, the scene has 0']);
    expect(sceneViolations(ok, 'a photo of a red square and a green circle', 'eval')).toEqual(['"a photo of a red square and a green circle" asks for a green circle, the scene\'s is blue']);
    expect(sceneViolations(ok, 'a photo of three squares', 'eval')[0]).toMatch(/asks for 3 objects/);
    const white = { ...ok, objects: [ok.objects[0]!, { ...ok.objects[1]!, colour: 'white' as const }] };
    expect(sceneViolations(white, 'a photo of a square and a circle', 'eval')).toEqual([]);
    expect(sceneViolations(white, 'a photo of a square and a circle', 'train')).toEqual(['object 1: a white circle is held out of training']);
    expect(sceneViolations(white, '', 'train')).toEqual(['object 1: a white circle is held out of training']);
    const heldPosition: Scene = { ...ok, objects: [ok.objects[0]!, { ...ok.objects[1]!, shape: 'triangle' }] };
    expect(sceneViolations(heldPosition, 'a photo of a square left of a triangle', 'train')).toEqual(['"a photo of a square left of a triangle" is a held-out prompt']);
    const crowded: Scene = { ...ok, objects: [ok.objects[0]!, { ...ok.objects[1]!, cx: 23 }] };
    expect(sceneViolations(crowded, '', 'eval')).toEqual(['objects 0 and 1: boxes -3.00 px apart, less than 3']);
    const big: Scene = { ...ok, objects: [{ ...ok.objects[0]!, r: 10.5, cx: 11 }] };
    expect(sceneViolations(big, '', 'eval')).toEqual(['object 0: r = 10.5 outside [6, 10] for 1 objects', 'object 0: box leaves the 1 px margin']);
    expect(sceneViolations({ ...ok, bg: [100, 160, 160] }, '', 'eval').length).toBe(2);
  });
});
