import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WeightsMismatchError } from '../../../src/errors.js';
import { registerCaseRunner, runVectorSet, type VectorCase, type VerifyReport, withWeightsProbe } from '../../../src/node/verify.js';
import { testGpu } from '../../setup/gpu.js';

/**
 * verify's honesty rules, on runners registered for the test (no model runs): a non-finite
 * output fails with `maxAbs: null` and a `nonFinite` count, every case reports the weights it ran
 * on, and `--weights` that fit no case stop the run naming both configurations.
 */

const REFERENCE = new Float32Array([1, 2, 3, 4]);
let dir: string;

function writeIndex(cases: readonly Partial<VectorCase>[]): void {
  const full = cases.map((c, i) => ({
    name: `case${i}`,
    config: 'tiny_a',
    weights: 'own.safetensors',
    inputs: {},
    outputs: { out: { file: 'out.bin', shape: [4], dtype: 'float32' } },
    tolerance: { maxAbs: 1e-3 },
    ...c,
  }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ version: 1, configs: { tiny_a: { depth: 2, hidden: 24 }, tiny_b: { depth: 3, hidden: 48 } }, cases: full }));
}

/** A runner producing `values`, reporting the case's own weights or `--weights` when they "fit" tiny_b. */
function fakeRunner(values: Float32Array) {
  return withWeightsProbe(
    async (_gpu, c, caseDir, o) => {
      const useOverride = o.weights !== null && c.config === 'tiny_b';
      o.ranOn?.(useOverride ? (o.weights as string) : join(caseDir, c.weights ?? ''));
      return { tensors: [{ name: 'out', role: 'output' as const, got: values, expected: REFERENCE, maxAbs: 1e-3 }] };
    },
    async (c, o) => ({ fits: c.config === 'tiny_b', weightsConfig: `fake weights of depth 3 (${o.weights})`, caseConfig: `${c.config}: depth ${c.config === 'tiny_b' ? 3 : 2}` }),
  );
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmdit-verify-honesty-'));
  writeFileSync(join(dir, 'out.bin'), new Uint8Array(REFERENCE.buffer));
  writeFileSync(join(dir, 'own.safetensors'), 'not read: the test runners only name it');
  registerCaseRunner('test_exact', fakeRunner(REFERENCE.slice()));
  registerCaseRunner('test_nan', fakeRunner(new Float32Array([1, Number.NaN, 3, Number.POSITIVE_INFINITY])));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = async (weights: string | null, json?: string): Promise<VerifyReport> =>
  runVectorSet({ dir, weights, gpu: await testGpu(), log: () => undefined, ...(json ? { json } : {}) });

describe('verify: non-finite outputs', () => {
  it('a case whose output holds NaN or Inf fails with maxAbs null and the count, in the JSON report too', async () => {
    writeIndex([{ kind: 'test_exact' }, { kind: 'test_nan' }]);
    const json = join(dir, 'report.json');
    const report = await run(null, json);
    const [exact, nan] = report.cases;
    expect(exact).toMatchObject({ pass: true, maxAbs: 0 });
    expect(exact!.nonFinite).toBeUndefined();
    expect(nan).toMatchObject({ pass: false, maxAbs: null, relL2: null, nonFinite: 2 });
    expect(nan!.tensors[0]).toMatchObject({ name: 'out', pass: false, maxAbs: null, relL2: null, nonFinite: 2 });
    expect(report.pass).toBe(false);
    const written = JSON.parse(readFileSync(json, 'utf8')) as VerifyReport;
    expect(written.version).toBe(1);
    expect(written.cases[1]).toMatchObject({ maxAbs: null, nonFinite: 2, pass: false });
  });
});

describe('verify: which weights ran', () => {
  it('each case reports the weights it ran on: its own file, or --weights where they fit', async () => {
    writeIndex([{ kind: 'test_exact', config: 'tiny_a' }, { kind: 'test_exact', config: 'tiny_b' }]);
    const own = await run(null);
    expect(own.cases.map((c) => c.weights)).toEqual([join(dir, 'own.safetensors'), join(dir, 'own.safetensors')]);
    const replaced = await run('/models/other.safetensors');
    expect(replaced.weights).toBe('/models/other.safetensors');
    expect(replaced.cases.map((c) => c.weights)).toEqual([join(dir, 'own.safetensors'), '/models/other.safetensors']);
  });

  it('--weights that fit no case stop the run, naming the weights\' and the cases\' configurations', async () => {
    writeIndex([{ kind: 'test_exact', config: 'tiny_a' }, { kind: 'test_exact', config: 'tiny_a', name: 'again' }]);
    const error = await run('/models/other.safetensors').then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WeightsMismatchError);
    const e = error as WeightsMismatchError;
    expect(e.weights).toBe('/models/other.safetensors');
    expect(e.weightsConfig).toContain('fake weights of depth 3');
    expect(e.caseConfigs).toEqual(['tiny_a: depth 2']);
    expect(e.message).toMatch(/fit none of the cases run.*depth 3.*tiny_a: depth 2/);
  });
});

describe('verify command exit status', () => {
  it('--weights that fit no case exit 1 with one line naming both configurations', async () => {
    writeIndex([{ kind: 'test_exact', config: 'tiny_a' }]);
    const { runVerify } = await import('../../../src/node/commands/verify.js');
    const errors: string[] = [];
    const error = console.error;
    const log = console.log;
    console.error = (line: string) => void errors.push(line);
    console.log = () => undefined;
    try {
      expect(await runVerify([dir, '--weights', join(dir, 'own.safetensors')])).toBe(1);
    } finally {
      console.error = error;
      console.log = log;
    }
    expect(errors.join('\n')).toMatch(/^verify: WeightsMismatchError: --weights .* fit none of the cases run/);
  });
});
