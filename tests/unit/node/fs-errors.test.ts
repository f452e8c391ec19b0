import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileAccessError, FileFormatError, MmditError } from '../../../src/errors.js';
import { runConvert } from '../../../src/node/commands/convert.js';
import { fileSource } from '../../../src/node/file-source.js';
import { insideFolder, prepareOutputDir, writeFileAtomic } from '../../../src/node/fs-checks.js';
import { readVectorIndex, readVectorTensor } from '../../../src/node/verify.js';
import { openWeightsFile } from '../../../src/node/weights-source.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmdit-fs-errors-'));
  writeFileSync(join(dir, 'a-file'), 'x');
  writeFileSync(join(dir, 'x.bin'), new Uint8Array(16));
  mkdirSync(join(dir, 'sub'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function failure(promise: Promise<unknown>): Promise<MmditError> {
  const e = await promise.then(() => null, (error: unknown) => error);
  expect(e).toBeInstanceOf(MmditError);
  return e as MmditError;
}

function index(tensor: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
  const c = { name: 'c', kind: 'forward', config: 'k', weights: null, inputs: { x: { file: 'x.bin', shape: [4], dtype: 'float32', ...tensor } }, outputs: {}, tolerance: { maxAbs: 1 }, ...extra };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ version: 1, configs: {}, cases: [c] }));
}

describe('typed file-system errors', () => {
  it("fileSource('/nope') and a folder fail typed, naming the path", async () => {
    const missing = await failure(fileSource('/nope'));
    expect(missing).toBeInstanceOf(FileAccessError);
    expect(missing).toMatchObject({ path: '/nope', expected: 'missing', detail: 'ENOENT' });
    expect(await failure(fileSource(dir))).toMatchObject({ path: dir, expected: 'not a file' });
    expect(await failure(fileSource(join(dir, 'a-file', 'below')))).toMatchObject({ expected: 'not a directory' });
  });

  it('a missing input .bin is a FileAccessError naming it', async () => {
    const e = await failure(readVectorTensor(dir, { file: 'gone.bin', shape: [4], dtype: 'float32' }));
    expect(e).toMatchObject({ path: join(dir, 'gone.bin'), expected: 'missing' });
  });

  it('a missing index.json, weights file or manifest is a FileAccessError', async () => {
    expect(await failure(readVectorIndex(join(dir, 'sub')))).toMatchObject({ path: join(dir, 'sub', 'index.json'), expected: 'missing' });
    expect(await failure(openWeightsFile(join(dir, 'none.safetensors'), 'mmdit'))).toMatchObject({ expected: 'missing' });
    expect(await failure(openWeightsFile(join(dir, 'none.json'), 'mmdit'))).toMatchObject({ expected: 'missing' });
  });

  for (const [label, file] of [
    ['parent escape', '../../../etc/passwd'],
    ['absolute path', '/etc/passwd'],
    ['escape after a folder', 'sub/../../x.bin'],
    ['the folder itself', '.'],
  ] as const) {
    it(`an index naming a file outside its folder is rejected at load: ${label}`, async () => {
      index({ file });
      const e = await failure(readVectorIndex(dir));
      expect(e).toBeInstanceOf(FileAccessError);
      expect((e as FileAccessError).expected).toBe(`outside ${dir}`);
      expect(e.message).toContain(file);
      await expect(readVectorTensor(dir, { file, shape: [4], dtype: 'float32' })).rejects.toThrow(FileAccessError);
    });
  }

  it("a case's weights outside the folder are rejected at load", async () => {
    index({}, { weights: '../weights.safetensors' });
    expect(await failure(readVectorIndex(dir))).toBeInstanceOf(FileAccessError);
  });

  it('dtype "float64" (or any dtype verify cannot read) is an error naming the dtype', async () => {
    index({ dtype: 'float64' });
    const e = await failure(readVectorIndex(dir));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/dtype "float64" is not read by verify \(allowed: float32, int32, uint8\)/);
    await expect(readVectorTensor(dir, { file: 'x.bin', shape: [4], dtype: 'float64' as 'float32' })).rejects.toThrow(/float64/);
    index({ shape: [4, -1] });
    expect((await failure(readVectorIndex(dir))).message).toMatch(/shape must be a list of non-negative integers/);
  });

  it('insideFolder resolves names inside the folder', () => {
    expect(insideFolder(dir, 'sub/x.bin')).toBe(join(dir, 'sub', 'x.bin'));
  });
});

describe('output folders', () => {
  it('a file in the way, or above, is "not a directory"', async () => {
    expect(await failure(prepareOutputDir(join(dir, 'a-file')))).toMatchObject({ path: join(dir, 'a-file'), expected: 'not a directory' });
    expect(await failure(prepareOutputDir(join(dir, 'a-file', 'x', 'y')))).toMatchObject({ path: join(dir, 'a-file'), expected: 'not a directory' });
  });

  it('/proc/nope/x fails "not writable" at once instead of hanging (mkdir -p never returns there)', async () => {
    const t0 = performance.now();
    const e = await failure(prepareOutputDir('/proc/nope/x'));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e).toMatchObject({ path: '/proc/nope', expected: 'not writable' });
  });

  it('creates missing levels and leaves no probe file', async () => {
    const out = await prepareOutputDir(join(dir, 'new', 'deeper'));
    expect(out).toBe(join(dir, 'new', 'deeper'));
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(out)).toEqual([]);
  });

  it('writeFileAtomic leaves only the complete file under its name', async () => {
    const path = join(dir, 'sub', 'shard-00000.bin');
    await writeFileAtomic(path, new Uint8Array(1000).fill(7));
    const { readdirSync, statSync } = await import('node:fs');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['shard-00000.bin']);
    expect(statSync(path).size).toBe(1000);
    expect(await failure(writeFileAtomic(join(dir, 'a-file', 'x.bin'), new Uint8Array(4)))).toMatchObject({ expected: 'not a directory' });
  });

  it('convert --out exits 1 naming the problem: a file, under a file, /proc/nope/x', async () => {
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    try {
      const input = join(dir, 'x.bin');
      expect(await runConvert([input, '--out', join(dir, 'a-file')])).toBe(1);
      expect(await runConvert([input, '--out', join(dir, 'a-file', 'model')])).toBe(1);
      expect(await runConvert([input, '--out', '/proc/nope/x'])).toBe(1);
    } finally {
      spy.mockRestore();
    }
    expect(errors[0]).toMatch(/^convert: FileAccessError: .*a-file: is not a folder/);
    expect(errors[2]).toMatch(/\/proc\/nope: cannot be written/);
    expect(errors.join('\n')).not.toMatch(/\n\s+at /);
  });
});

describe('a directory shard cache in a bad place', () => {
  it('under /proc or under a file, a put fails typed at once (the loader then warns and carries on)', async () => {
    const { openDirectoryCache } = await import('../../../src/node/fs-cache.js');
    const sha = 'a'.repeat(64);
    const t0 = performance.now();
    expect(await failure(openDirectoryCache('/proc/nope/cache').put(sha, new Uint8Array(8)))).toMatchObject({ expected: 'not writable' });
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await failure(openDirectoryCache(join(dir, 'a-file', 'cache')).put(sha, new Uint8Array(8)))).toMatchObject({ expected: 'not a directory' });
  });
});
