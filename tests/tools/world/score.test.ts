import { describe, expect, it } from 'vitest';
import { parsePrompt } from '../../../tools/world/captions.js';
import type { Detection } from '../../../tools/world/detector.js';
import { relativePosition, scoreImage, summarise } from '../../../tools/world/score.js';
import type { Colour, Shape } from '../../../tools/world/world.js';

function det(shape: Shape, colour: Colour, cx: number, cy: number, r: number, confidence = 0.9): Detection {
  return { shape, colour, box: [cx - r, cy - r, cx + r, cy + r], confidence, cx, cy, r, fill: 1 };
}
const judge = (prompt: string, dets: Detection[]): boolean => scoreImage(parsePrompt(prompt), dets).correct;

describe("GenEval's position rule", () => {
  it('shrinks each offset component by 0.1·(size_A + size_B), never past 0', () => {
    // off = (−12, −4), sizes 10 + 10 → shrunk (−10, −2); / |off| = 12.65 → (−0.79, −0.16): left of only.
    expect([...relativePosition([0, 0, 10, 10], [12, 4, 22, 14])]).toEqual(['left of']);
    // off = (−6, −6), sizes 20 + 20 → shrunk (−2, −2); / 8.49 → −0.24 each: no relation.
    // Unshrunk it would have been −0.71, both left of and above.
    expect(relativePosition([0, 0, 20, 20], [6, 6, 26, 26]).size).toBe(0);
    // Offsets smaller than the shrink vanish: centres 1 px apart.
    expect(relativePosition([0, 0, 10, 10], [1, 0, 11, 10]).size).toBe(0);
  });

  it('takes y downwards: "above" is a negative y offset', () => {
    expect([...relativePosition([20, 0, 30, 10], [20, 30, 30, 40])]).toEqual(['above']);
    expect([...relativePosition([20, 30, 30, 40], [20, 0, 30, 10])]).toEqual(['below']);
    expect([...relativePosition([40, 20, 50, 30], [0, 20, 10, 30])]).toEqual(['right of']);
  });

  it('can hold two relations at once on a diagonal', () => {
    expect(relativePosition([0, 0, 4, 4], [30, 30, 34, 34])).toEqual(new Set(['left of', 'above']));
  });

  it('judges position prompts on the boxes', () => {
    const p = 'a photo of a square left of a triangle';
    expect(judge(p, [det('square', 'red', 12, 30, 7), det('triangle', 'blue', 45, 32, 7)])).toBe(true);
    expect(judge(p, [det('square', 'red', 45, 30, 7), det('triangle', 'blue', 12, 32, 7)])).toBe(false);
    // Only 9 px apart against sizes 14 + 14: shrunk by 2.8 → (9 − 2.8)/9.06 = 0.68, still left of.
    expect(judge(p, [det('square', 'red', 20, 30, 7), det('triangle', 'blue', 29, 31, 7)])).toBe(true);
    // Mostly vertical: not left of.
    expect(judge(p, [det('square', 'red', 20, 10, 7), det('triangle', 'blue', 28, 50, 7)])).toBe(false);
    // The relation is checked on the most confident square only.
    const dets = [det('square', 'red', 50, 30, 7, 0.95), det('square', 'red', 10, 30, 7, 0.6), det('triangle', 'blue', 30, 50, 7)];
    expect(judge('a photo of a square right of a triangle', [det('square', 'red', 50, 30, 7), det('triangle', 'blue', 20, 30, 7)])).toBe(true);
    expect(judge('a photo of a square left of a triangle', [dets[0]!, dets[1]!, det('triangle', 'blue', 30, 30, 7)])).toBe(false);
    // A missing object fails.
    expect(judge(p, [det('square', 'red', 12, 30, 7)])).toBe(false);
  });
});

describe('counts and colours', () => {
  it('counting: at least n, and no more than n', () => {
    const c = (n: number): Detection[] => Array.from({ length: n }, (_, i) => det('circle', 'red', 10 + 15 * i, 20, 5));
    expect(judge('a photo of three circles', c(3))).toBe(true);
    expect(judge('a photo of three circles', c(2))).toBe(false);
    expect(judge('a photo of three circles', c(4))).toBe(false);
    // Other shapes do not count.
    expect(judge('a photo of two circles', [...c(2), det('square', 'red', 40, 50, 5)])).toBe(true);
  });

  it('other categories allow extra objects (GenEval excludes only for counting)', () => {
    expect(judge('a photo of a circle', [det('circle', 'red', 10, 10, 6), det('circle', 'blue', 40, 40, 6)])).toBe(true);
    expect(judge('a photo of a circle and a cross', [det('circle', 'red', 10, 10, 6), det('cross', 'blue', 40, 40, 6)])).toBe(true);
    expect(judge('a photo of a circle and a cross', [det('circle', 'red', 10, 10, 6), det('square', 'blue', 40, 40, 6)])).toBe(false);
  });

  it('checks the colour on the top-count detections by confidence', () => {
    const red = det('circle', 'red', 10, 10, 6, 0.6);
    const blue = det('circle', 'blue', 40, 40, 6, 0.9);
    expect(judge('a photo of a red circle', [red, blue])).toBe(false);
    expect(judge('a photo of a red circle', [{ ...red, confidence: 0.95 }, blue])).toBe(true);
    expect(judge('a photo of a blue circle', [red, blue])).toBe(true);
    const p = 'a photo of an orange square and a purple triangle';
    expect(judge(p, [det('square', 'orange', 10, 10, 6), det('triangle', 'purple', 40, 40, 6)])).toBe(true);
    expect(judge(p, [det('square', 'purple', 10, 10, 6), det('triangle', 'orange', 40, 40, 6)])).toBe(false);
    expect(scoreImage(parsePrompt(p), [det('square', 'orange', 10, 10, 6)]).reasons).toEqual(['expected triangle>=1, found 0']);
  });
});

describe('summary', () => {
  it('scores categories, their mean, and the held-out prompts', () => {
    const im = (prompt: string, correct: boolean) => ({ spec: parsePrompt(prompt), correct });
    const s = summarise([
      im('a photo of a circle', true),
      im('a photo of a square', false),
      im('a photo of a circle and a cross', true),
      im('a photo of two crosses', true),
      im('a photo of a white circle', true),
      im('a photo of a red circle', false),
      im('a photo of a square above a triangle', false),
      im('a photo of a red square and a green cross', true),
    ]);
    expect(s.categories).toEqual({ single_object: 0.5, two_object: 1, counting: 1, colors: 0.5, position: 0, color_attr: 1 });
    expect(s.overall).toBeCloseTo(4 / 6, 12);
    expect(s.heldoutImages).toBe(3);
    expect(s.heldout).toBeCloseTo(2 / 3, 12);
    expect(s.images).toBe(8);
  });
});
