import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { toFloat32 } from '../../../src/weights/decode.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f16Tensor, f32Tensor, randomFloats, rawSafetensors } from '../weights/helpers.js';
import { fuzzParser } from './harness.js';
import { applyBytes, applyJson, byteMutations, jsonMutations } from './mutate.js';

const VALID = encodeSafetensors(
  [
    f32Tensor('a.weight', [3, 4], randomFloats(12, 1)),
    f16Tensor('b.bias', [5], randomFloats(5, 2)),
    { name: 'c.bf16', dtype: 'BF16', shape: [2, 2], data: new Uint8Array(8).fill(0x3f) },
    { name: 'position_ids', dtype: 'I64', shape: [1, 3], data: new Uint8Array(24) },
  ],
  { format: 'pt' },
);
const HEADER_LENGTH = Number(new DataView(VALID.buffer).getBigUint64(0, true));
const HEADER: unknown = JSON.parse(new TextDecoder().decode(VALID.subarray(8, 8 + HEADER_LENGTH)));
const DATA = VALID.slice(8 + HEADER_LENGTH);

/** Opens the file and reads (and decodes) every tensor it lists. */
async function parse(bytes: Uint8Array, unsupported: 'error' | 'skip'): Promise<void> {
  const source = await openSafetensors(bytesSource(bytes, 'fuzz.safetensors'), { unsupported });
  for (const info of source.tensors.values()) toFloat32(await source.read(info.name), info.dtype);
}

describe('fuzz: safetensors reader', () => {
  it('the unmutated file parses', async () => {
    await parse(VALID, 'skip');
    await expect(parse(VALID, 'error')).rejects.toThrow(/I64/);
  });

  it('byte mutations: parse or MmditError, no hang', async () => {
    const stats = await fuzzParser('safetensors (bytes)', 1501, fc.tuple(byteMutations, fc.constantFrom('error' as const, 'skip' as const)), ([m, mode]) =>
      parse(applyBytes(VALID, m), mode),
    );
    expect(stats.cases).toBeGreaterThan(0);
  });

  it('header JSON mutations: parse or MmditError, no hang', async () => {
    const stats = await fuzzParser('safetensors (header JSON)', 1502, jsonMutations, (m) =>
      parse(rawSafetensors(JSON.stringify(applyJson(HEADER, m)) ?? '', DATA), 'skip'),
    );
    expect(stats.cases).toBeGreaterThan(0);
  });
});
