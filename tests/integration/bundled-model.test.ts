import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import '../../src/node/commands/verify.js';
import { runVectorSet } from '../../src/node/verify.js';
import { testGpu } from '../setup/gpu.js';

/**
 * The bundled model (demo/public/models/mmdit-tiny) against its own PyTorch reference vectors
 * (tests/vectors/mmdit-tiny, made by tools/train/vectors.py from the stored weights), run on the model
 * folder itself: the picture a user gets is the model as trained. Also what the catalogue and the size budget promise.
 */

const ROOT = process.cwd();
const catalogue = JSON.parse(readFileSync(join(ROOT, 'weights-manifest.json'), 'utf8')) as {
  default?: string;
  models: Record<string, { manifest: string }>;
};
const MODEL_ID = 'mmdit-tiny';
const VECTORS = join(ROOT, 'tests/vectors', MODEL_ID);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('the bundled model', () => {
  it('is the catalogue default and listed first', () => {
    expect(catalogue.default).toBe(MODEL_ID);
    expect(Object.keys(catalogue.models)[0]).toBe(MODEL_ID);
  });

  it('fits 12 MB on disk and 6 MB gzip-compressed, its tokenizer files included', () => {
    const dir = resolve(ROOT, catalogue.models[MODEL_ID]!.manifest, '..');
    const files = filesUnder(dir);
    expect(files.some((f) => f.endsWith('vocab.json'))).toBe(true);
    expect(files.some((f) => f.endsWith('merges.txt'))).toBe(true);
    const disk = files.reduce((s, f) => s + statSync(f).size, 0);
    const gzip = files.reduce((s, f) => s + gzipSync(readFileSync(f), { level: 9 }).length, 0);
    console.log(`bundled model: ${files.length} files, ${(disk / 1e6).toFixed(2)} MB on disk, ${(gzip / 1e6).toFixed(2)} MB gzip`);
    expect(disk).toBeLessThanOrEqual(12e6);
    expect(gzip).toBeLessThanOrEqual(6e6);
  });

  it('passes every one of its reference vectors at the f32 tolerances', async () => {
    const vectorBytes = filesUnder(VECTORS).reduce((s, f) => s + statSync(f).size, 0);
    expect(vectorBytes).toBeLessThanOrEqual(10e6);
    // The cases run on the model folder itself: the vectors keep no copy of its weights.
    const manifest = resolve(ROOT, catalogue.models[MODEL_ID]!.manifest);
    const report = await runVectorSet({ dir: VECTORS, weights: manifest, gpu: await testGpu(), log: () => undefined });
    const kinds = new Set(report.cases.map((c) => c.kind));
    for (const k of ['clip_l', 'clip_g', 'conditioning', 'forward', 'sampling', 'vae_decode', 'vae_encode']) expect(kinds, k).toContain(k);
    for (const c of report.cases) {
      if (c.weights !== null) expect(c.weights, c.name).toBe(manifest);
      console.log(`${c.name}: ${c.pass ? 'pass' : 'FAIL'} max-abs ${c.maxAbs?.toExponential(2) ?? 'n/a'}`);
      expect(c.error, c.name).toBeUndefined();
      expect(c.pass, c.name).toBe(true);
    }
  });
});
