import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { insideShape, renderScene, rgbToRgba, samplesInside, shapeCoverage, toByte } from '../../../tools/world/render.js';
import type { Scene } from '../../../tools/world/world.js';

const px = (img: Uint8Array, i: number, j: number): number[] => Array.from(img.slice((j * 64 + i) * 3, (j * 64 + i) * 3 + 3));

describe('inside tests (WORLD.md table), boundaries inclusive', () => {
  it('circle', () => {
    expect(insideShape('circle', 1, 0)).toBe(true);
    expect(insideShape('circle', 0.6, 0.8)).toBe(true);
    expect(insideShape('circle', 0.71, 0.71)).toBe(false);
  });
  it('square', () => {
    expect(insideShape('square', 1, -1)).toBe(true);
    expect(insideShape('square', 1.0001, 0)).toBe(false);
  });
  it('triangle points up (y grows downwards)', () => {
    expect(insideShape('triangle', 0, -1)).toBe(true); // apex
    expect(insideShape('triangle', 0.01, -1)).toBe(false);
    expect(insideShape('triangle', 1, 1)).toBe(true); // base corners
    expect(insideShape('triangle', 0.5, 0)).toBe(true);
    expect(insideShape('triangle', 0.51, 0)).toBe(false);
    expect(insideShape('triangle', 0, 1.01)).toBe(false);
  });
  it('cross arms are a third of the half-size thick', () => {
    expect(insideShape('cross', 1, 1 / 3)).toBe(true);
    expect(insideShape('cross', 1 / 3, 1)).toBe(true);
    expect(insideShape('cross', 1, 0.34)).toBe(false);
    expect(insideShape('cross', 0.5, 0.5)).toBe(false);
    expect(insideShape('cross', 2 / 6, 1)).toBe(true); // 2/6 rounds to the same float64 as 1/3
  });
});

describe('supersampling at i + (k + 0.5)/4', () => {
  it('counts samples on exact boundaries as inside (hand-counted pixels)', () => {
    // Triangle apex at y = 24 over x = 32: sample rows 24.375, 24.625, 24.875 hold 1, 1, 2 samples of pixel 31.
    expect(samplesInside('triangle', 32, 32, 8, 31, 24)).toBe(4);
    // Cross arm edge |y − 32.125| = 2 = r/3 exactly: the sample row y = 34.125 is inside.
    expect(samplesInside('cross', 32.125, 32.125, 6, 36, 34)).toBe(4);
    expect(samplesInside('cross', 32.125, 32.125, 6, 36, 30)).toBe(16);
    expect(samplesInside('cross', 32.125, 32.125, 6, 36, 29)).toBe(0);
    // Square edge x = 32.375 + 6 = 38.375 is a sample position: 2 of pixel 38's columns are inside.
    expect(samplesInside('square', 32.375, 32.5, 6, 38, 32)).toBe(8);
  });

  it('averages over the unrounded background and rounds half up', () => {
    // Square [26.5, 38.5]²: edge pixels are half covered, corners a quarter.
    const img = renderScene({ bg: [149, 149, 149], objects: [{ shape: 'square', colour: 'red', cx: 32.5, cy: 32.5, r: 6 }] });
    expect(px(img, 30, 30)).toEqual([220, 40, 40]);
    expect(px(img, 25, 30)).toEqual([149, 149, 149]);
    expect(px(img, 26, 30)).toEqual([185, 95, 95]); // (8·220 + 8·149)/16 = 184.5 → 185; (8·40 + 8·149)/16 = 94.5 → 95
    expect(px(img, 26, 26)).toEqual([167, 122, 122]); // (4·220 + 12·149)/16 = 166.75; (4·40 + 12·149)/16 = 121.75
    expect(px(img, 38, 38)).toEqual([167, 122, 122]);
  });

  it('keeps the background unrounded until the end', () => {
    const img = renderScene({ bg: [150.4, 150.6, 0.5], objects: [{ shape: 'square', colour: 'black', cx: 32.5, cy: 32.5, r: 6 }] });
    expect(px(img, 0, 0)).toEqual([150, 151, 1]);
    // 8 samples of black (20) and 8 of 150.4: 85.2 → 85; of 150.6: 85.3 → 85; of 0.5: 10.25 → 10.
    expect(px(img, 26, 30)).toEqual([85, 85, 10]);
  });

  it('coverage matches per-pixel sample counts', () => {
    const cov = shapeCoverage('circle', 20.3, 30.7, 7.1, 64, 64);
    for (const [i, j] of [[20, 30], [13, 30], [27, 31], [5, 5]] as const) {
      expect(cov[j * 64 + i]).toBe(samplesInside('circle', 20.3, 30.7, 7.1, i, j));
    }
    expect(cov[30 * 64 + 20]).toBe(16);
    expect(cov[5 * 64 + 5]).toBe(0);
  });

  it('rounds half up and clamps', () => {
    expect(toByte(184.5)).toBe(185);
    expect(toByte(184.49999)).toBe(184);
    expect(toByte(-3)).toBe(0);
    expect(toByte(300)).toBe(255);
  });
});

describe('scenes', () => {
  it('later objects win where two overlap', () => {
    const scene: Scene = {
      bg: [160, 160, 160],
      objects: [
        { shape: 'square', colour: 'red', cx: 30, cy: 30, r: 8 },
        { shape: 'square', colour: 'blue', cx: 36, cy: 30, r: 8 },
      ],
    };
    const img = renderScene(scene);
    expect(px(img, 33, 30)).toEqual([40, 80, 220]);
    expect(px(img, 23, 30)).toEqual([220, 40, 40]);
  });

  it('renders other sizes, and RGBA', () => {
    const img = renderScene({ bg: [150, 150, 150], objects: [{ shape: 'circle', colour: 'white', cx: 64, cy: 40, r: 20 }] }, 128, 80);
    expect(img.length).toBe(128 * 80 * 3);
    expect(Array.from(img.slice((40 * 128 + 64) * 3, (40 * 128 + 64) * 3 + 3))).toEqual([250, 250, 250]);
    const rgba = rgbToRgba(img);
    expect(rgba.length).toBe(128 * 80 * 4);
    expect(Array.from(rgba.slice(0, 4))).toEqual([150, 150, 150, 255]);
  });

  it('reproduces every committed fixture bit for bit', () => {
    const fixtures = JSON.parse(readFileSync(new URL('../../fixtures/world/scenes.json', import.meta.url), 'utf8')) as {
      name: string;
      scene: Scene;
      sha256: string;
    }[];
    expect(fixtures.length).toBeGreaterThanOrEqual(35);
    for (const f of fixtures) {
      expect(createHash('sha256').update(renderScene(f.scene)).digest('hex'), f.name).toBe(f.sha256);
    }
  });
});
