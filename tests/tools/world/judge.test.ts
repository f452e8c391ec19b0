import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EvalSourceError, EvalUsageError } from '../../../tools/world/errors.js';
import { judgeFolder, readJudgeEntries } from '../../../tools/world/judge-score.js';
import { encodePngRgb } from '../../../tools/world/png.js';
import { renderScene } from '../../../tools/world/render.js';

const dir = mkdtempSync(join(tmpdir(), 'mmdit-judge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const png = (objects: Parameters<typeof renderScene>[0]['objects']): Uint8Array =>
  encodePngRgb(renderScene({ bg: [160, 158, 163], objects }), 64, 64);

describe('judging pictures of world prompts', () => {
  it('gives each picture its verdict and counts them per category', () => {
    writeFileSync(join(dir, 'a.png'), png([{ shape: 'circle', colour: 'red', cx: 20, cy: 30, r: 8 }]));
    writeFileSync(join(dir, 'b.png'), png([{ shape: 'square', colour: 'blue', cx: 40, cy: 30, r: 8 }]));
    writeFileSync(
      join(dir, 'c.png'),
      png([
        { shape: 'cross', colour: 'black', cx: 14, cy: 32, r: 8 },
        { shape: 'triangle', colour: 'yellow', cx: 48, cy: 32, r: 8 },
      ]),
    );
    const r = judgeFolder(
      [
        { id: 'a', prompt: 'a photo of a red circle' },
        { id: 'b', prompt: 'a photo of a red square' },
        { id: 'c', prompt: 'a photo of a cross left of a triangle' },
        { id: 'a', prompt: 'a photo of a circle' },
      ],
      dir,
    );
    expect(r.verdicts).toEqual({ a: true, b: false, c: true });
    const [square, ...rest] = r.detections.b ?? [];
    expect(rest).toEqual([]);
    expect(square).toMatchObject({ shape: 'square', colour: 'blue' });
    expect(square?.cx).toBeCloseTo(40, 0);
    expect((r.detections.c ?? []).map((d) => d.shape).sort()).toEqual(['cross', 'triangle']);
    expect(r.perCategory.colors).toEqual({ images: 2, correct: 1 });
    expect(r.perCategory.position).toEqual({ images: 1, correct: 1 });
    expect(r.perCategory.single_object).toEqual({ images: 1, correct: 1 });
    expect(r.perCategory.counting).toEqual({ images: 0, correct: 0 });
  });

  it('names a missing picture, a missing prompt file and a malformed one', () => {
    expect(() => judgeFolder([{ id: 'nowhere', prompt: 'a photo of a circle' }], dir)).toThrow(EvalSourceError);
    expect(() => readJudgeEntries(join(dir, 'none.json'))).toThrow(EvalSourceError);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ id: 3, prompt: 'a photo of a circle' }]));
    expect(() => readJudgeEntries(join(dir, 'bad.json'))).toThrow(/entry 0/);
    writeFileSync(join(dir, 'obj.json'), JSON.stringify({ id: 'a' }));
    expect(() => readJudgeEntries(join(dir, 'obj.json'))).toThrow(EvalUsageError);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify([{ id: 'a', prompt: 'a photo of a circle', seed: 1 }]));
    expect(readJudgeEntries(join(dir, 'ok.json'))).toEqual([{ id: 'a', prompt: 'a photo of a circle' }]);
  });
});
