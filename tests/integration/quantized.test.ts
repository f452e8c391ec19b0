import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { MMDIT_CASE_RUNNERS } from '../../src/node/verify-mmdit.js';
import { registerCaseRunner, runVectorSet, type VectorIndex, type VerifyReport } from '../../src/node/verify.js';
import { recordGpuRun, testGpu } from '../setup/gpu.js';

/**
 * Converted int8 and int4 models of the public denoiser configurations pass `verify --weights`
 * within the fixed limits of ISSUE_NOTES (issue 4): relative L2 of each case's outputs against its
 * f32 reference, set in advance at 1.5× the scheme's inherent error. c1 and c2 (QK-norm) only, and
 * the 8-step sampling case (about a minute on SwiftShader) with int4 only, where the error is
 * largest, to keep CI time down; `tools/bench/weights.ts` runs every case of all four configs.
 * The cases are run without their per-layer intermediates: the limits are defined on outputs, and
 * a layer's error under quantised weights is not bounded by them.
 */
const LIMITS: Readonly<Record<string, { int8: number; int4: number }>> = {
  'c1_sd3m/forward_b2_32x32': { int8: 0.0034, int4: 0.048 },
  'c1_sd3m/forward_b1_24x40': { int8: 0.0036, int4: 0.047 },
  'c1_sd3m/sample_euler_8steps_cfg5_shift3': { int8: 0.0062, int4: 0.11 },
  'c2_sd35l_qknorm/forward_b2_16x24': { int8: 0.0029, int4: 0.038 },
};
const CONFIGS = ['c1_sd3m', 'c2_sd35l_qknorm'] as const;
const SCHEMES = ['int8', 'int4'] as const;
const SAMPLING = 'c1_sd3m/sample_euler_8steps_cfg5_shift3';
const runs = (name: string, quant: (typeof SCHEMES)[number]): boolean => name !== SAMPLING || quant === 'int4';

const shared = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');
const vectors = process.env.MMDIT_VECTORS ?? path.join(shared, 'vectors');

let dir = '';
const reports = new Map<string, VerifyReport>();

/** A vector folder holding the cases to run (links to the shared files), without intermediates. */
async function caseFolder(index: VectorIndex, config: string, quant: (typeof SCHEMES)[number]): Promise<string> {
  const folder = path.join(dir, `vectors-${config}-${quant}`);
  await mkdir(folder, { recursive: true });
  await symlink(path.join(vectors, config), path.join(folder, config));
  const cases = index.cases.filter((c) => c.config === config && runs(c.name, quant)).map(({ intermediates: _, ...c }) => c);
  await writeFile(path.join(folder, 'index.json'), JSON.stringify({ ...index, cases }));
  return folder;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mmdit-quantized-'));
  for (const [kind, runner] of Object.entries(MMDIT_CASE_RUNNERS)) registerCaseRunner(kind, runner);
  const index = JSON.parse(await readFile(path.join(vectors, 'index.json'), 'utf8')) as VectorIndex;
  const gpu = await testGpu();
  for (const config of CONFIGS) {
    for (const quant of SCHEMES) {
      const folder = await caseFolder(index, config, quant);
      const out = path.join(dir, `${config}-${quant}`);
      const { manifestPath } = await convertCheckpoints({ inputs: [path.join(vectors, config, 'weights.safetensors')], out, quant, log: () => undefined });
      const report = await runVectorSet({ dir: folder, weights: manifestPath, gpu, log: () => undefined });
      reports.set(`${config}/${quant}`, report);
      recordGpuRun(`verify ${config} --weights ${quant}`);
      for (const c of report.cases) console.log(`${quant} ${c.name}: rel-L2 ${c.relL2?.toExponential(2)} (limit ${JSON.stringify(c.tolerance)}), ${c.ms.toFixed(0)} ms`);
    }
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('verify --weights with converted int8 and int4 models', () => {
  for (const config of CONFIGS) {
    for (const quant of SCHEMES) {
      const names = Object.keys(LIMITS).filter((n) => n.startsWith(`${config}/`) && runs(n, quant));
      for (const name of names) {
        const limit = LIMITS[name]![quant];
        it(`${name} with ${quant} weights: outputs within relative L2 ${limit}`, () => {
          const report = reports.get(`${config}/${quant}`);
          const c = report?.cases.find((x) => x.name === name);
          expect(c, `${name} in the report`).toBeDefined();
          expect(c!.error).toBeUndefined();
          expect(report!.weights).toMatch(new RegExp(`${config}-${quant}/manifest\\.json$`));
          const outputs = c!.tensors.filter((t) => t.role === 'output');
          expect(outputs.length).toBeGreaterThan(0);
          for (const t of outputs) {
            expect(t.tolerance, `${name} ${t.name}`).toEqual({ relL2: limit });
            expect(t.relL2, `${name} ${t.name}: rel-L2 ${t.relL2} with ${quant} weights`).toBeLessThanOrEqual(limit);
            // The replaced weights were used: quantisation leaves a visible error.
            expect(t.relL2).toBeGreaterThan(limit / 50);
          }
          expect(c!.pass).toBe(true);
        });
      }
      it(`${config} with ${quant} weights: verify passes as a whole`, () => {
        expect(reports.get(`${config}/${quant}`)?.pass).toBe(true);
      });
    }
  }
});
