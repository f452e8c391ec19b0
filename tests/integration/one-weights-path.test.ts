import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { registerCaseRunner, runVectorSet, type VectorIndex } from '../../src/node/verify.js';
import { MMDIT_CASE_RUNNERS } from '../../src/node/verify-mmdit.js';
import { TEXT_CASE_RUNNERS } from '../../src/node/verify-text.js';
import { VAE_CASE_RUNNERS } from '../../src/node/verify-vae.js';
import { testGpu } from '../setup/gpu.js';
import { VECTORS_DIR } from '../unit/weights/helpers.js';

/**
 * The public reference models converted (f32, 1 MiB shards) into one model folder, then every
 * component — MM-DiT (c1), CLIP-L, CLIP-G, T5, VAE — loaded from that folder through the one
 * weights path (each shard streamed, SHA-256-checked, written by the one uploader) and run on its
 * reference vectors with verify's runners: each case must pass and must have run on the converted
 * model, not on its own checkpoint.
 */

const CASES = {
  denoiser: ['c1_sd3m/forward_b2_32x32'],
  text: ['clip_l/prompt_a', 'clip_g/prompt_a', 't5/prompt_a', 'vae/decode_8x8'],
} as const;

let work = '';
let manifestPath = '';

/** A vector folder holding only `names`, their data linked in from the shared set. */
async function subset(from: string, names: readonly string[], folders: readonly string[], label: string): Promise<string> {
  const dir = path.join(work, label);
  const index = JSON.parse(await readFile(path.join(from, 'index.json'), 'utf8')) as VectorIndex;
  await mkdir(dir, { recursive: true });
  for (const f of folders) await symlink(path.join(from, f), path.join(dir, f));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ ...index, cases: index.cases.filter((c) => names.includes(c.name)) }));
  return dir;
}

beforeAll(async () => {
  for (const runners of [MMDIT_CASE_RUNNERS, TEXT_CASE_RUNNERS, VAE_CASE_RUNNERS]) for (const [kind, run] of Object.entries(runners)) registerCaseRunner(kind, run);
  work = await mkdtemp(path.join(tmpdir(), 'mmdit-one-path-'));
  const text = path.join(VECTORS_DIR, 'text_vae');
  ({ manifestPath } = await convertCheckpoints({
    inputs: [
      `mmdit=${path.join(VECTORS_DIR, 'c1_sd3m/weights.safetensors')}`,
      `clip_l=${path.join(text, 'clip_l/weights.safetensors')}`,
      `clip_g=${path.join(text, 'clip_g/weights.safetensors')}`,
      `t5=${path.join(text, 't5/weights.safetensors')}`,
      `vae=${path.join(text, 'vae/weights.safetensors')}`,
    ],
    out: path.join(work, 'model'),
    quant: 'f32',
    shardBytes: 1024 * 1024,
    log: () => undefined,
  }));
});

afterAll(() => rm(work, { recursive: true, force: true }));

describe('one weights path: a converted model folder into all four components', () => {
  it('the c1 denoiser matches its reference', async () => {
    const dir = await subset(VECTORS_DIR, CASES.denoiser, ['c1_sd3m'], 'denoiser');
    const report = await runVectorSet({ dir, weights: manifestPath, gpu: await testGpu(), log: () => undefined });
    for (const c of report.cases) console.log(`${c.name}: max-abs ${c.maxAbs?.toExponential(2)} (tolerance ${JSON.stringify(c.tolerance)}) on ${c.weights}`);
    expect(report.cases.map((c) => c.name)).toEqual([...CASES.denoiser]);
    expect(report.cases.every((c) => c.weights === manifestPath)).toBe(true);
    expect(report.pass).toBe(true);
    expect(report.cases[0]!.maxAbs!).toBeLessThanOrEqual(4e-6);
  });

  it('CLIP-L, CLIP-G, T5 and the VAE match their references', async () => {
    const dir = await subset(path.join(VECTORS_DIR, 'text_vae'), CASES.text, ['clip_l', 'clip_g', 't5', 'vae'], 'text');
    const report = await runVectorSet({ dir, weights: manifestPath, gpu: await testGpu(), log: () => undefined });
    for (const c of report.cases) console.log(`${c.name}: max-abs ${c.maxAbs?.toExponential(2)} rel-L2 ${c.relL2?.toExponential(2)} on ${c.weights}${c.error ? ` ${c.error.message}` : ''}`);
    expect(report.cases.map((c) => c.name).sort()).toEqual([...CASES.text].sort());
    expect(report.cases.filter((c) => c.weights !== manifestPath).map((c) => c.name)).toEqual([]);
    expect(report.cases.filter((c) => !c.pass).map((c) => c.name)).toEqual([]);
  });
});
