import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerCaseRunner, runVectorSet, type VectorCase, type VerifyReport } from '../../src/node/verify.js';
import { TEXT_CASE_RUNNERS } from '../../src/node/verify-text.js';
import { recordGpuRun, testGpu } from '../setup/gpu.js';

const shared = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');
const dir = path.join(process.env.MMDIT_VECTORS ?? path.join(shared, 'vectors'), 'text_vae');
const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { cases: VectorCase[] };
const KINDS = Object.keys(TEXT_CASE_RUNNERS);
const cases = index.cases.filter((c) => KINDS.includes(c.kind));

describe('verify on the text reference vectors (f32)', () => {
  let report: VerifyReport;
  beforeAll(async () => {
    for (const [kind, runner] of Object.entries(TEXT_CASE_RUNNERS)) registerCaseRunner(kind, runner);
    report = await runVectorSet({ dir, only: KINDS, gpu: await testGpu(), log: () => undefined });
    recordGpuRun('verify text_vae text kinds');
  });

  it('the public set has every text kind', () => {
    expect(new Set(cases.map((c) => c.kind))).toEqual(new Set(KINDS));
  });

  for (const c of cases) {
    describe(c.name, () => {
      it('runs without error and reports every output', () => {
        const r = report.cases.find((x) => x.name === c.name);
        expect(r?.error).toBeUndefined();
        expect(r?.tensors.filter((t) => t.role === 'output').map((t) => t.name).sort()).toEqual(Object.keys(c.outputs).sort());
        expect(r?.peakGpuBytes).toBeGreaterThan(0);
      });

      const entries = [...Object.entries(c.outputs), ...Object.entries(c.intermediates ?? {})];
      for (const [name, tensor] of entries) {
        const tol = tensor.maxAbs ?? c.tolerance.maxAbs;
        it(`${name} ${JSON.stringify(tensor.shape)} is within max abs ${tol} of the reference`, () => {
          const t = report.cases.find((x) => x.name === c.name)?.tensors.find((x) => x.name === name);
          expect(t, `verify result for ${name}`).toBeDefined();
          expect(t!.tolerance).toEqual({ maxAbs: tol });
          expect(t!.maxAbs, `${c.name} ${name}: max abs ${t!.maxAbs}`).toBeLessThanOrEqual(tol);
          expect(t!.pass).toBe(true);
        });
      }
    });
  }
});
