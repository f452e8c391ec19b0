import { describe, expect, it } from 'vitest';
import { checkImage } from '../../../tools/world/check.js';
import { detect, estimateBackground } from '../../../tools/world/detector.js';
import { DetectorInputError } from '../../../tools/world/errors.js';
import { groundTruthCases, scoreGroundTruth } from '../../../tools/world/gt-score.js';
import { Rng } from '../../../tools/world/random.js';
import { renderScene, rgbToRgba } from '../../../tools/world/render.js';
import { CATEGORIES, COLOURS, SHAPES, type Scene } from '../../../tools/world/world.js';

const image = (scene: Scene, w = 64, h = 64) => ({ data: renderScene(scene, w, h), width: w, height: h });

describe('detector on ground-truth renders', () => {
  it('scores ≥ 0.99 in every category on 1,000 seeded renders', () => {
    const { summary, failures } = scoreGroundTruth(groundTruthCases(1000, 17));
    for (const c of CATEGORIES) expect(summary.categories[c], `${c}: ${JSON.stringify(failures.slice(0, 3))}`).toBeGreaterThanOrEqual(0.99);
    expect(summary.images).toBe(1000);
  });

  it('finds every shape in every colour, with its box and a confidence near 1', () => {
    for (const shape of SHAPES) {
      for (const colour of COLOURS) {
        const scene: Scene = { bg: [171.3, 165.2, 160.8], objects: [{ shape, colour, cx: 30.3, cy: 33.8, r: 7.2 }] };
        const dets = detect(image(scene));
        expect(dets.length, `${colour} ${shape}`).toBe(1);
        const d = dets[0]!;
        expect([d.shape, d.colour]).toEqual([shape, colour]);
        expect(Math.abs(d.cx - 30.3)).toBeLessThanOrEqual(0.5);
        expect(Math.abs(d.cy - 33.8)).toBeLessThanOrEqual(0.5);
        expect(Math.abs(d.r - 7.2)).toBeLessThanOrEqual(0.75);
        expect(d.box).toEqual([d.cx - d.r, d.cy - d.r, d.cx + d.r, d.cy + d.r]);
        expect(d.confidence).toBeGreaterThan(0.85);
      }
    }
  });

  it('estimates the background from the border', () => {
    const bg = estimateBackground(image({ bg: [150.2, 160.7, 170.4], objects: [{ shape: 'square', colour: 'red', cx: 32, cy: 32, r: 10 }] }));
    expect(bg).toEqual([150, 161, 170]);
  });

  it('reads RGBA as well as RGB, and other sizes', () => {
    const scene: Scene = {
      bg: [160, 160, 160],
      objects: [
        { shape: 'cross', colour: 'black', cx: 40, cy: 30, r: 18 },
        { shape: 'triangle', colour: 'white', cx: 90, cy: 50, r: 14 },
      ],
    };
    const rgb = image(scene, 128, 80);
    const viaRgba = detect({ data: rgbToRgba(rgb.data), width: 128, height: 80 });
    expect(viaRgba).toEqual(detect(rgb));
    expect(viaRgba.map((d) => `${d.colour} ${d.shape}`).sort()).toEqual(['black cross', 'white triangle']);
  });

  it('splits a component that two colours share', () => {
    // Two squares touching edge to edge: one component, two colours.
    const scene: Scene = {
      bg: [160, 160, 160],
      objects: [
        { shape: 'square', colour: 'red', cx: 24, cy: 32, r: 8 },
        { shape: 'square', colour: 'blue', cx: 40, cy: 32, r: 8 },
      ],
    };
    const dets = detect(image(scene));
    expect(dets.map((d) => `${d.colour} ${d.shape}`).sort()).toEqual(['blue square', 'red square']);
  });

  it('splits touching objects of one colour', () => {
    const pairs: Scene['objects'][] = [
      [
        { shape: 'square', colour: 'red', cx: 24, cy: 32, r: 8 },
        { shape: 'square', colour: 'red', cx: 40.5, cy: 36, r: 8 },
      ],
      [
        { shape: 'circle', colour: 'blue', cx: 22, cy: 32, r: 9 },
        { shape: 'circle', colour: 'blue', cx: 40, cy: 30, r: 9 },
      ],
      [
        { shape: 'circle', colour: 'green', cx: 22, cy: 32, r: 7 },
        { shape: 'triangle', colour: 'green', cx: 36, cy: 32, r: 7 },
      ],
    ];
    for (const objects of pairs) {
      const dets = detect(image({ bg: [160, 160, 160], objects }));
      expect(dets.map((d) => `${d.colour} ${d.shape}`).sort()).toEqual(objects.map((o) => `${o.colour} ${o.shape}`).sort());
      for (const o of objects) expect(dets.some((d) => Math.hypot(d.cx - o.cx, d.cy - o.cy) < 0.75)).toBe(true);
    }
  });

  it('finds nothing in an empty picture, and rejects specks and shapeless blobs', () => {
    expect(detect(image({ bg: [150, 150, 150], objects: [] }))).toEqual([]);
    const data = renderScene({ bg: [150, 150, 150], objects: [] });
    // A 2×2 speck and a thin 1×30 line of red.
    for (const p of [10 * 64 + 10, 10 * 64 + 11, 11 * 64 + 10, 11 * 64 + 11]) data.set([220, 40, 40], p * 3);
    for (let y = 20; y < 50; y++) data.set([220, 40, 40], (y * 64 + 40) * 3);
    expect(detect({ data, width: 64, height: 64 })).toEqual([]);
  });

  it('sees no objects in noise', () => {
    // What an untrained model makes: per-pixel noise, and the same smoothed into blobs.
    const rng = new Rng(4);
    let found = 0;
    for (let t = 0; t < 20; t++) {
      let field = Float32Array.from({ length: 64 * 64 * 3 }, () => 150 + (rng.next() - 0.5) * 160);
      for (let pass = 0; pass < t % 3; pass++) {
        const next = new Float32Array(field.length);
        for (let y = 0; y < 64; y++) {
          for (let x = 0; x < 64; x++) {
            for (let c = 0; c < 3; c++) {
              let sum = 0;
              let k = 0;
              for (let dy = -1; dy <= 1; dy++) {
                for (let dx = -1; dx <= 1; dx++) {
                  const yy = y + dy;
                  const xx = x + dx;
                  if (yy >= 0 && yy < 64 && xx >= 0 && xx < 64) (sum += field[(yy * 64 + xx) * 3 + c]!), k++;
                }
              }
              // Smoothing shrinks the spread; scale it back up around the mean grey.
              next[(y * 64 + x) * 3 + c] = 150 + ((sum / k - 150) * (pass + 2)) / 1.2;
            }
          }
        }
        field = next;
      }
      found += detect({ data: Uint8Array.from(field, (v) => Math.max(0, Math.min(255, Math.round(v)))), width: 64, height: 64 }).length;
    }
    expect(found).toBe(0);
  });

  it('judges a prompt against a picture in one call', () => {
    const scene: Scene = {
      bg: [160, 160, 160],
      objects: [
        { shape: 'circle', colour: 'white', cx: 16, cy: 32, r: 8 },
        { shape: 'square', colour: 'blue', cx: 46, cy: 31, r: 8 },
      ],
    };
    expect(checkImage('a photo of a circle left of a square', image(scene)).correct).toBe(true);
    expect(checkImage('a photo of a white circle and a blue square', image(scene)).correct).toBe(true);
    const wrong = checkImage('a photo of a circle right of a square', image(scene));
    expect(wrong.correct).toBe(false);
    expect(wrong.reasons[0]).toMatch(/right of/);
  });

  it('rejects bytes that are not an image of the stated size', () => {
    expect(() => detect({ data: new Uint8Array(100), width: 64, height: 64 })).toThrow(DetectorInputError);
    expect(() => detect({ data: new Uint8Array(0), width: 0, height: 0 })).toThrow(DetectorInputError);
    expect(() => detect({ data: new Uint8Array(64 * 64 * 3), width: 64.5, height: 64 })).toThrow(DetectorInputError);
  });
});
