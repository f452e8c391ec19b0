import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalClipSource } from '../../src/models/clip/index.js';
import { fileSource } from '../../src/node/file-source.js';
import { registerCaseRunner, runVectorSet, type VectorCase, type VerifyReport } from '../../src/node/verify.js';
import { TEXT_CASE_RUNNERS } from '../../src/node/verify-text.js';
import { convert } from '../../src/weights/convert.js';
import { openSafetensors } from '../../src/weights/safetensors.js';
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

describe('verify --weights with an int8 manifest of the CLIP-L weights', () => {
  it('runs the clip_l cases on the replaced weights, judged by relative L2', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'clip-int8-'));
    try {
      await convert({
        model: 'clip-l-int8',
        quant: 'int8',
        inputs: { clip_l: await openSafetensors(await fileSource(path.join(dir, 'clip_l', 'weights.safetensors'))) },
        canonicalize: { clip_l: (src) => canonicalClipSource(src).source },
        write: (file, bytes) => writeFile(path.join(out, file), bytes),
      });
      for (const [kind, runner] of Object.entries(TEXT_CASE_RUNNERS)) registerCaseRunner(kind, runner);
      const report = await runVectorSet({ dir, only: ['clip_l', 't5'], weights: path.join(out, 'manifest.json'), gpu: await testGpu(), log: () => undefined });
      recordGpuRun('verify text --weights int8');
      const clip = report.cases.filter((c) => c.kind === 'clip_l');
      expect(clip.length).toBe(2);
      for (const c of clip) {
        expect(c.error).toBeUndefined();
        expect(c.tolerance).toEqual({ relL2: 2.2e-2 });
        expect(c.relL2).toBeGreaterThan(0);
        expect(c.pass, `${c.name}: relative L2 ${c.relL2}`).toBe(true);
        expect(c.tensors.find((t) => t.name === 'eot_index')?.tolerance).toEqual({ maxAbs: 0 });
      }
      // The manifest has no T5: those cases keep their own weights and max-abs tolerances.
      for (const c of report.cases.filter((x) => x.kind === 't5')) expect(c.tolerance).toEqual({ maxAbs: c.name === 't5/long_100' ? 1e-4 : 5e-5 });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
