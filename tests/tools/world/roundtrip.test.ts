import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Detection } from '../../../tools/world/detector.js';
import { EvalSourceError } from '../../../tools/world/errors.js';
import { encodePngRgb } from '../../../tools/world/png.js';
import { renderScene } from '../../../tools/world/render.js';
import { scoreRoundTrip, writeGroundTruth } from '../../../tools/world/roundtrip-score.js';
import { matchScene } from '../../../tools/world/scene-match.js';
import type { Scene } from '../../../tools/world/world.js';

const dir = mkdtempSync(join(tmpdir(), 'mmdit-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('round-trip scoring', () => {
  it('scores exact renders fully, and finds a picture that lost its objects', () => {
    const ids = writeGroundTruth(dir, 24, 5);
    expect(readdirSync(dir).length).toBe(48);
    const exact = scoreRoundTrip(dir);
    expect(exact.images).toBe(24);
    expect(exact.sceneMatch).toBe(1);
    expect(exact.overall).toBe(1);
    expect(Object.keys(exact.categories).length).toBe(6);
    // Replace one picture by a blank one: it fails both ways and is named.
    writeFileSync(join(dir, `${ids[0]}.png`), encodePngRgb(renderScene({ bg: [160, 160, 160], objects: [] }), 64, 64));
    const broken = scoreRoundTrip(dir);
    expect(broken.sceneMatch).toBeCloseTo(23 / 24, 12);
    expect(broken.failures.map((f) => f.id)).toEqual([ids[0]]);
    expect(broken.failures[0]!.reasons.some((r) => r.startsWith('missing '))).toBe(true);
  });

  it('names a missing picture or folder', () => {
    expect(() => scoreRoundTrip(dir, join(dir, 'nowhere'))).toThrow(EvalSourceError);
    expect(() => scoreRoundTrip(join(dir, 'nowhere'))).toThrow(EvalSourceError);
  });

  it('matches detections to a scene one to one', () => {
    const scene: Scene = {
      bg: [160, 160, 160],
      objects: [
        { shape: 'circle', colour: 'red', cx: 10, cy: 10, r: 6 },
        { shape: 'circle', colour: 'red', cx: 40, cy: 40, r: 6 },
      ],
    };
    const d = (cx: number, cy: number, colour: Detection['colour'] = 'red'): Detection => ({
      shape: 'circle',
      colour,
      box: [cx - 6, cy - 6, cx + 6, cy + 6],
      confidence: 0.9,
      cx,
      cy,
      r: 6,
      fill: 1,
    });
    expect(matchScene(scene, [d(10.5, 10), d(40, 41)]).correct).toBe(true);
    expect(matchScene(scene, [d(10.5, 10)]).missing.length).toBe(1);
    expect(matchScene(scene, [d(10.5, 10), d(40, 41), d(25, 50)]).extra.length).toBe(1);
    expect(matchScene(scene, [d(10, 10), d(40, 40, 'blue')]).correct).toBe(false);
    expect(matchScene(scene, [d(10, 10), d(10, 10)]).correct).toBe(false);
  });
});
