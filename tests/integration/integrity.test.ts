import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { runVectorSet } from '../../src/node/verify.js';
import '../../src/node/commands/verify.js';
import { testGpu } from '../setup/gpu.js';

/**
 * Integrity from a local folder: a converted model read from disk (`verify --weights
 * <manifest.json>`) is hashed shard by shard like a download, so a flipped byte or a wrong
 * SHA-256 in the manifest fails the case with ShardIntegrityError naming the shard and both
 * hashes — it used to load, give slightly different numbers and pass. (HTTP, IndexedDB and the
 * Node directory cache: unit/weights/loader.test.ts, unit/weights/cache.test.ts,
 * unit/node/fs-cache.test.ts.)
 */

const SHARED = process.env['MMDIT_SHARED'] ?? resolve(process.cwd(), '../shared');
const VECTORS = join(SHARED, 'vectors');
const CASE = 'c2_sd35l_qknorm/forward_b2_16x24';

let root: string;
let vectors: string;
let model: string;
let manifest: { components: { mmdit: { shards: { file: string; sha256: string }[] } } };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'mmdit-integrity-'));
  vectors = join(root, 'vectors');
  model = join(root, 'model');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(vectors);
  symlinkSync(join(VECTORS, 'c2_sd35l_qknorm'), join(vectors, 'c2_sd35l_qknorm'));
  const index = JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { configs: object; cases: { name: string; intermediates?: unknown }[] };
  const c = { ...index.cases.find((x) => x.name === CASE)! };
  delete c.intermediates;
  writeFileSync(join(vectors, 'index.json'), JSON.stringify({ version: 1, configs: index.configs, cases: [c] }));
  await convertCheckpoints({ inputs: [join(VECTORS, 'c2_sd35l_qknorm/weights.safetensors')], out: model, quant: 'f32', shardBytes: 1 << 20, log: () => undefined });
  manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8')) as typeof manifest;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const verifyWith = async (weights: string) => (await runVectorSet({ dir: vectors, weights, gpu: await testGpu(), log: () => undefined })).cases[0]!;

describe('integrity of a local converted model', () => {
  // The intact model passing is integration/denoiser.test.ts › --weights replaces the weights of
  // the cases it fits (a converted manifest, the same path); here only corruption, which never
  // reaches the GPU.
  it('one flipped byte in a shard fails the case with ShardIntegrityError naming the shard and both hashes', async () => {
    const shard = manifest.components.mmdit.shards[1]!;
    const path = join(model, shard.file);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[1000] = (bad[1000] ?? 0) ^ 0x01;
    writeFileSync(path, bad);
    try {
      const c = await verifyWith(join(model, 'manifest.json'));
      expect(c.pass).toBe(false);
      expect(c.error?.type).toBe('ShardIntegrityError');
      expect(c.error?.message).toContain(shard.file);
      expect(c.error?.message).toContain(shard.sha256);
    } finally {
      writeFileSync(path, good);
    }
  });

  it('a wrong sha256 in the manifest fails the same way', async () => {
    const wrong = JSON.parse(JSON.stringify(manifest)) as typeof manifest;
    wrong.components.mmdit.shards[0]!.sha256 = 'f'.repeat(64);
    const path = join(model, 'wrong-manifest.json');
    writeFileSync(path, JSON.stringify(wrong));
    const c = await verifyWith(path);
    expect(c.pass).toBe(false);
    expect(c.error?.type).toBe('ShardIntegrityError');
    expect(c.error?.message).toContain('f'.repeat(64));
  });
});
