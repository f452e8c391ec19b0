import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAccessError, FileFormatError } from '../../../src/errors.js';
import { readVectorIndex, readVectorTensor, type VectorTensor } from '../../../src/node/verify.js';
import { fuzzParser } from './harness.js';
import { applyJson, applyString, jsonMutations, stringMutations } from './mutate.js';

/** A vector index in the shared format with three small tensor files beside it. */
const INDEX = {
  version: 1,
  description: 'fuzz',
  configs: { tiny: { depth: 2, hidden: 24, weights: 'w.safetensors' } },
  cases: [
    {
      name: 'tiny/forward',
      kind: 'forward',
      config: 'tiny',
      weights: 'w.safetensors',
      inputs: { x: { file: 'case/x.bin', shape: [2, 3], dtype: 'float32' }, ids: { file: 'case/ids.bin', shape: [4], dtype: 'int32' } },
      outputs: { out: { file: 'case/out.bin', shape: [6], dtype: 'uint8', maxAbs: 1 } },
      intermediates: { h: { file: 'case/x.bin', shape: [6], dtype: 'float32' } },
      tolerance: { maxAbs: 1e-4, intermediatesMaxAbs: 1e-3 },
    },
  ],
};
const TEXT = JSON.stringify(INDEX);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmdit-fuzz-index-'));
  mkdirSync(join(dir, 'case'));
  writeFileSync(join(dir, 'case', 'x.bin'), new Uint8Array(24));
  writeFileSync(join(dir, 'case', 'ids.bin'), new Uint8Array(16));
  writeFileSync(join(dir, 'case', 'out.bin'), new Uint8Array(6));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads the index and reads every tensor it lists, as verify does before running a case. */
async function parse(text: string): Promise<void> {
  writeFileSync(join(dir, 'index.json'), text);
  const index = await readVectorIndex(dir);
  for (const c of index.cases) {
    for (const group of [c.inputs, c.outputs, c.intermediates ?? {}]) {
      for (const t of Object.values(group)) await readVectorTensor(dir, t as VectorTensor);
    }
  }
}

describe('fuzz: vector index (verify)', () => {
  it('the unmutated index parses', async () => {
    await parse(TEXT);
  });

  it('index mutations: parse or MmditError, no hang', async () => {
    const input = fc.oneof(fc.record({ json: jsonMutations }), fc.record({ text: stringMutations }));
    const stats = await fuzzParser('vector index.json', 1901, input, (m) => parse('json' in m ? (JSON.stringify(applyJson(INDEX, m.json)) ?? '') : applyString(TEXT, m.text)));
    expect(stats.cases).toBeGreaterThan(0);
  });
});

describe('vector index: inputs the fuzzer found', () => {
  const failure = (text: string) => parse(text).then(() => null, (e: unknown) => e);

  it('a case without inputs is a FileFormatError at load (it was a TypeError in the runner)', async () => {
    const { inputs: _dropped, ...rest } = INDEX.cases[0]!;
    expect(await failure(JSON.stringify({ ...INDEX, cases: [rest] }))).toBeInstanceOf(FileFormatError);
  });

  it('a file name too long for the file system is a FileAccessError (it was a raw ENAMETOOLONG)', async () => {
    const long = applyString(TEXT, [{ op: 'repeat', at: TEXT.indexOf('case/x.bin') / (TEXT.length + 1), length: 2, times: 300 }]);
    const e = await failure(long);
    expect(e).toBeInstanceOf(FileAccessError);
    expect((e as FileAccessError).expected).toBe('not a valid path');
  });

  it('a NUL byte in a file name is a FileAccessError (it was a raw TypeError from node:fs)', async () => {
    const e = await failure(TEXT.replace('case/out.bin', 'case/out\\u0000.bin'));
    expect(e).toBeInstanceOf(FileAccessError);
    expect((e as FileAccessError).expected).toBe('not a valid path');
  });
});
