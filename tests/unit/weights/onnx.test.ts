import path from 'node:path';
import * as onnxModule from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { CheckpointError, FileFormatError } from '../../../src/errors.js';
import { fileSource } from '../../../src/node/file-source.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { encodeF16, encodeF32, toFloat32 } from '../../../src/weights/decode.js';
import { openOnnx } from '../../../src/weights/onnx.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { VECTORS_DIR } from './helpers.js';

const onnx = onnxModule.onnx ?? (onnxModule as unknown as { default: typeof onnxModule }).default.onnx;
const { DataType, DataLocation } = onnx.TensorProto;

function model(initializer: onnxModule.onnx.ITensorProto[]): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: 'test',
    graph: {
      name: 'g',
      node: [{ opType: 'Identity', input: ['a'], output: ['out'] }],
      initializer,
    },
  }).finish();
}

describe('openOnnx', () => {
  it('reads raw_data, float_data and FLOAT16 in int32_data initialisers', async () => {
    const f16 = new Uint16Array(new Uint8Array(encodeF16([1, -0.5, 2 ** -24])).buffer);
    const file = model([
      { name: 'raw', dims: [2, 2], dataType: DataType.FLOAT, rawData: encodeF32([1, 2, 3, 4]) },
      { name: 'typed', dims: [3], dataType: DataType.FLOAT, floatData: [0.25, -8, 1e-3] },
      { name: 'half', dims: [3], dataType: DataType.FLOAT16, int32Data: [...f16] },
      { name: 'half_raw', dims: [1, 3], dataType: DataType.FLOAT16, rawData: encodeF16([4, 5, 6]) },
      { name: 'shape', dims: [2], dataType: DataType.INT64, int64Data: [1, -1] },
    ]);
    const source = await openOnnx(bytesSource(file, 'm.onnx'));
    expect([...source.tensors.keys()]).toEqual(['raw', 'typed', 'half', 'half_raw']);
    expect(source.skipped).toEqual([{ name: 'shape', dataType: DataType.INT64 }]);
    expect(source.tensors.get('raw')).toMatchObject({ shape: [2, 2], dtype: 'F32', byteLength: 16 });
    expect([...toFloat32(await source.read('raw'), 'F32')]).toEqual([1, 2, 3, 4]);
    expect([...toFloat32(await source.read('typed'), 'F32')]).toEqual([0.25, -8, Math.fround(1e-3)]);
    expect([...toFloat32(await source.read('half'), 'F16')]).toEqual([1, -0.5, 2 ** -24]);
    expect([...toFloat32(await source.read('half_raw'), 'F16')]).toEqual([4, 5, 6]);
  });

  it('reads external data through the callback with location, offset and length', async () => {
    const external = new Uint8Array(64);
    external.set(encodeF32([7, 8, 9]), 16);
    const file = model([
      {
        name: 'w',
        dims: [3],
        dataType: DataType.FLOAT,
        dataLocation: DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: 'weights.bin' },
          { key: 'offset', value: '16' },
          { key: 'length', value: '12' },
        ],
      },
    ]);
    const calls: string[] = [];
    const source = await openOnnx(bytesSource(file, 'ext.onnx'), {
      readExternal: async (location, offset, length) => {
        calls.push(`${location}@${offset}+${length}`);
        return external.subarray(offset, offset + length);
      },
    });
    expect([...toFloat32(await source.read('w'), 'F32')]).toEqual([7, 8, 9]);
    expect(calls).toEqual(['weights.bin@16+12']);
    const without = await openOnnx(bytesSource(file, 'ext.onnx'));
    await expect(without.read('w')).rejects.toThrow(/external file "weights\.bin"/);
  });

  it('rejects external locations outside the model folder', async () => {
    const file = model([
      { name: 'w', dims: [1], dataType: DataType.FLOAT, dataLocation: DataLocation.EXTERNAL, externalData: [{ key: 'location', value: '../../etc/passwd' }] },
    ]);
    await expect(openOnnx(bytesSource(file, 'evil.onnx'))).rejects.toThrow(/evil\.onnx.*relative path/);
  });

  it('rejects raw_data whose size disagrees with dims, naming file and initialiser', async () => {
    const file = model([{ name: 'w', dims: [4], dataType: DataType.FLOAT, rawData: new Uint8Array(12) }]);
    await expect(openOnnx(bytesSource(file, 'short.onnx'))).rejects.toThrow(/short\.onnx: initialiser "w": raw_data has 12 bytes/);
  });

  it('rejects a truncated file and a file that is not ONNX', async () => {
    const file = model([{ name: 'w', dims: [64], dataType: DataType.FLOAT, rawData: new Uint8Array(256) }]);
    await expect(openOnnx(bytesSource(file.subarray(0, file.byteLength - 40), 'cut.onnx'))).rejects.toThrow(FileFormatError);
    await expect(openOnnx(bytesSource(new TextEncoder().encode('{"not": "onnx"}'), 'x.onnx'))).rejects.toThrow(FileFormatError);
  });

  it('rejects reading an unknown initialiser', async () => {
    const source = await openOnnx(bytesSource(model([]), 'empty.onnx'));
    await expect(source.read('missing')).rejects.toThrow(CheckpointError);
  });
});

describe('reference ONNX files', () => {
  for (const [config, file] of [
    ['c1_sd3m', 'model_b2_32x32_L13.onnx'],
    ['c4_big_d4', 'model_b2_64x64_L13.onnx'],
  ] as const) {
    it(`${config}: every model.diffusion_model.* initialiser equals the safetensors bytes`, async () => {
      const onnxSource = await openOnnx(await fileSource(path.join(VECTORS_DIR, config, file)));
      const st = await openSafetensors(await fileSource(path.join(VECTORS_DIR, config, 'weights.safetensors')));
      const names = [...onnxSource.tensors.keys()].filter((n) => n.startsWith('model.diffusion_model.'));
      expect(names.length).toBe(st.tensors.size);
      for (const name of names) {
        const a = onnxSource.tensors.get(name);
        const b = st.tensors.get(name);
        expect(b, name).toBeDefined();
        expect(a?.dtype, name).toBe(b?.dtype);
        expect(a?.shape, name).toEqual(b?.shape);
        const [x, y] = await Promise.all([onnxSource.read(name), st.read(name)]);
        expect(Buffer.compare(x, y), name).toBe(0);
      }
      if (config === 'c4_big_d4') expect(onnxSource.tensors.get(names[0] ?? '')?.dtype).toBe('F16');
    });
  }
});
