import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CaseRun, TEXT_CASE_RUNNERS, type VectorCase } from '../../src/node/verify-text.js';
import { expectClose } from '../reference/compare.js';
import { recordGpuRun, testGpu } from '../setup/gpu.js';

const shared = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');
const dir = path.join(shared, 'vectors', 'text_vae');
const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { cases: VectorCase[] };
const cases = index.cases.filter((c) => c.kind in TEXT_CASE_RUNNERS);

describe('text encoder reference vectors', () => {
  it('the public set has every text kind', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(['clip_l', 'clip_g', 't5', 'conditioning']));
  });

  for (const c of cases) {
    describe(c.name, () => {
      let run: CaseRun;
      beforeAll(async () => {
        const runner = TEXT_CASE_RUNNERS[c.kind]!;
        run = await runner(await testGpu(), c, dir);
        recordGpuRun(`text vectors ${c.name}`);
      });

      const names = [...Object.keys(c.outputs), ...Object.keys(c.intermediates ?? {})];
      for (const name of names) {
        const tensor = c.outputs[name] ?? c.intermediates?.[name];
        const tol = tensor?.maxAbs ?? c.tolerance.maxAbs;
        it(`${name} ${JSON.stringify(tensor?.shape)} is within max abs ${tol} of the reference`, () => {
          const t = run.tensors.find((x) => x.name === name);
          expect(t, `engine result for ${name}`).toBeDefined();
          expectClose(t!.got, t!.expected, { atol: t!.maxAbs, rtol: 0 }, `${c.name} ${name}`, tensor?.shape);
        });
      }
    });
  }
});
