import fc from 'fast-check';
import * as onnxModule from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../../../src/errors.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { encodeF16, encodeF32, toFloat32 } from '../../../src/weights/decode.js';
import { openOnnx } from '../../../src/weights/onnx.js';
import { fuzzParser } from './harness.js';
import { applyBytes, byteMutations } from './mutate.js';

const onnx = onnxModule.onnx ?? (onnxModule as unknown as { default: typeof onnxModule }).default.onnx;
const { DataType, DataLocation } = onnx.TensorProto;

const EXTERNAL = bytesSource(new Uint8Array(64).fill(0x3c), 'weights.bin');
const f16 = [...new Uint16Array(new Uint8Array(encodeF16([1, -0.5, 2 ** -24])).buffer)];

/** Every storage the reader supports: raw, typed float and f16, external, and a skipped int64. */
const VALID = new Uint8Array(onnx.ModelProto.encode({
  irVersion: 8,
  producerName: 'fuzz',
  graph: {
    name: 'g',
    node: [{ opType: 'Identity', input: ['a'], output: ['out'] }],
    initializer: [
      { name: 'raw', dims: [2, 2], dataType: DataType.FLOAT, rawData: encodeF32([1, 2, 3, 4]) },
      { name: 'typed', dims: [3], dataType: DataType.FLOAT, floatData: [0.25, -8, 1e-3] },
      { name: 'half', dims: [3], dataType: DataType.FLOAT16, int32Data: f16 },
      { name: 'half_raw', dims: [1, 3], dataType: DataType.FLOAT16, rawData: encodeF16([4, 5, 6]) },
      { name: 'shape', dims: [2], dataType: DataType.INT64, int64Data: [1, -1] },
      {
        name: 'ext',
        dims: [3],
        dataType: DataType.FLOAT,
        dataLocation: DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: 'weights.bin' },
          { key: 'offset', value: '16' },
          { key: 'length', value: '12' },
        ],
      },
    ],
  },
}).finish());

async function parse(bytes: Uint8Array): Promise<void> {
  const source = await openOnnx(bytesSource(bytes, 'fuzz.onnx'), {
    readExternal: (_location, offset, length, signal) => EXTERNAL.read(offset, length, signal),
  });
  for (const info of source.tensors.values()) toFloat32(await source.read(info.name), info.dtype);
}

describe('fuzz: ONNX scanner', () => {
  it('the unmutated model parses', async () => {
    await parse(VALID);
  });

  it('byte mutations: parse or MmditError, no hang', async () => {
    const stats = await fuzzParser('onnx (bytes)', 1601, byteMutations, (m) => parse(applyBytes(VALID, m)));
    expect(stats.cases).toBeGreaterThan(0);
  });
});

describe('ONNX scanner: inputs the fuzzer found or aims at', () => {
  it('a typed initialiser whose dims claim terabytes fails typed, before allocating', async () => {
    const file = new Uint8Array(
      onnx.ModelProto.encode({ graph: { name: 'g', initializer: [{ name: 'big', dims: [2 ** 40], dataType: DataType.FLOAT, floatData: [1] }] } }).finish(),
    );
    const source = await openOnnx(bytesSource(file, 'big.onnx'));
    await expect(source.read('big')).rejects.toThrow(FileFormatError);
    await expect(source.read('big')).rejects.toThrow(/float_data holds 1 values/);
  });

  it('a TensorProto that onnx-proto cannot decode fails typed', async () => {
    // The mutation fast-check shrank to: one byte of the typed initialiser set to 0.
    const m = applyBytes(VALID, [{ op: 'huge', at: 0.8765961234038766, width: 1, value: 0n }]);
    const e = await parse(m).then(() => null, (error: unknown) => error);
    expect(e).toBeInstanceOf(FileFormatError);
  });
});
