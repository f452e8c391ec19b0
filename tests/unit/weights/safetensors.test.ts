import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError, FileFormatError } from '../../../src/errors.js';
import { fileDirectoryReader, fileSource } from '../../../src/node/file-source.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { toFloat32 } from '../../../src/weights/decode.js';
import {
  MAX_HEADER_BYTES,
  openDiffusersShards,
  openSafetensors,
  openSafetensorsSet,
  parseSafetensorsIndex,
  type DirectoryReader,
} from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f16Tensor, f32Tensor, randomFloats, rawSafetensors, VECTORS_DIR } from './helpers.js';

const small = () =>
  encodeSafetensors(
    [f32Tensor('a.weight', [2, 3], randomFloats(6, 1)), f16Tensor('b.bias', [4], new Float32Array([1, -2, 0.5, 2 ** -24]))],
    { format: 'pt' },
  );

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('openSafetensors', () => {
  it('lists tensors with shape, dtype and byte length and ignores __metadata__', async () => {
    const source = await openSafetensors(bytesSource(small(), 'small.safetensors'));
    expect([...source.tensors.keys()]).toEqual(['a.weight', 'b.bias']);
    expect(source.tensors.get('a.weight')).toMatchObject({ shape: [2, 3], dtype: 'F32', byteLength: 24 });
    expect(source.tensors.get('b.bias')).toMatchObject({ shape: [4], dtype: 'F16', byteLength: 8 });
    expect(source.metadata).toEqual({ format: 'pt' });
    expect(source.origin).toBe('small.safetensors');
  });

  it('reads the exact bytes of a tensor', async () => {
    const values = randomFloats(6, 1);
    const source = await openSafetensors(bytesSource(small()));
    expect(toFloat32(await source.read('a.weight'), 'F32')).toEqual(values);
    expect([...toFloat32(await source.read('b.bias'), 'F16')]).toEqual([1, -2, 0.5, 2 ** -24]);
  });

  it('accepts BF16 and zero-sized tensors', async () => {
    const file = encodeSafetensors([
      { name: 'x', dtype: 'BF16', shape: [2], data: new Uint8Array([0x80, 0x3f, 0x40, 0xc0]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
    ]);
    const source = await openSafetensors(bytesSource(file));
    expect([...toFloat32(await source.read('x'), 'BF16')]).toEqual([1, -3]);
    expect(source.tensors.get('empty')?.byteLength).toBe(0);
  });

  it('rejects a header length over the limit, naming the file', async () => {
    const error = await rejection(openSafetensors(bytesSource(rawSafetensors('{}', undefined, 5n * 2n ** 30n), 'huge.safetensors')));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toMatch(/huge\.safetensors/);
    expect(error.message).toMatch(/5368709120 bytes/);
    expect(MAX_HEADER_BYTES).toBe(100 * 1024 * 1024);
  });

  it('rejects a header length past the end of the file as truncated', async () => {
    const error = await rejection(openSafetensors(bytesSource(rawSafetensors('{}', undefined, 1000n), 'cut.safetensors')));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toMatch(/cut\.safetensors.*truncated/);
  });

  it('rejects a file shorter than the length field', async () => {
    await expect(openSafetensors(bytesSource(new Uint8Array(5), 'tiny'))).rejects.toThrow(FileFormatError);
  });

  it('rejects a header that is not JSON', async () => {
    const error = await rejection(openSafetensors(bytesSource(rawSafetensors('{"a": [1, 2'), 'bad.safetensors')));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toMatch(/bad\.safetensors: safetensors header is not valid UTF-8 JSON/);
    await expect(openSafetensors(bytesSource(rawSafetensors('[1, 2]')))).rejects.toThrow(/not a JSON object/);
    await expect(openSafetensors(bytesSource(rawSafetensors(new Uint8Array([0x7b, 0xff, 0x7d]))))).rejects.toThrow(FileFormatError);
  });

  it('rejects an unsupported dtype with a CheckpointError naming tensor and dtype', async () => {
    const file = encodeSafetensors([{ name: 'ids', dtype: 'I64', shape: [2], data: new Uint8Array(16) }]);
    const error = await rejection(openSafetensors(bytesSource(file, 'ints.safetensors')));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/"ids".*I64.*ints\.safetensors/);
    expect((error as CheckpointError).actual).toBe('I64');
  });

  it('skips unsupported dtypes when asked and lists them', async () => {
    const file = encodeSafetensors([
      { name: 'position_ids', dtype: 'I64', shape: [2], data: new Uint8Array(16) },
      f32Tensor('w', [1], new Float32Array([3])),
    ]);
    const source = await openSafetensors(bytesSource(file), { unsupported: 'skip' });
    expect([...source.tensors.keys()]).toEqual(['w']);
    expect(source.skipped).toEqual([{ name: 'position_ids', dtype: 'I64' }]);
  });

  it('rejects data_offsets that disagree with shape and dtype, naming file and tensor', async () => {
    const header = JSON.stringify({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } });
    const error = await rejection(openSafetensors(bytesSource(rawSafetensors(header, new Uint8Array(16)), 'm.safetensors')));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toMatch(/m\.safetensors: tensor "w".*12 bytes.*needs 16/);
  });

  it('rejects data past the end of the file, naming file and tensor', async () => {
    const header = JSON.stringify({ w: { dtype: 'F16', shape: [8], data_offsets: [0, 16] } });
    const error = await rejection(openSafetensors(bytesSource(rawSafetensors(header, new Uint8Array(10)), 't.safetensors')));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toMatch(/t\.safetensors: tensor "w".*past the end/);
  });

  it('rejects malformed entries', async () => {
    const bad = [
      { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } },
      { w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } },
      { w: { shape: [1], data_offsets: [0, 4] } },
      { w: 7 },
    ];
    for (const header of bad) {
      await expect(openSafetensors(bytesSource(rawSafetensors(JSON.stringify(header), new Uint8Array(4))))).rejects.toThrow(/tensor "w"/);
    }
  });

  it('rejects reading an unknown tensor with a CheckpointError', async () => {
    const source = await openSafetensors(bytesSource(small(), 'small.safetensors'));
    await expect(source.read('nope')).rejects.toThrow(CheckpointError);
  });
});

describe('openSafetensorsSet', () => {
  it('merges the tensors of several files', async () => {
    const one = encodeSafetensors([f32Tensor('a', [1], new Float32Array([1]))]);
    const two = encodeSafetensors([f32Tensor('b', [2], new Float32Array([2, 3]))]);
    const set = await openSafetensorsSet([bytesSource(one, 'one'), bytesSource(two, 'two')]);
    expect([...set.tensors.keys()].sort()).toEqual(['a', 'b']);
    expect([...toFloat32(await set.read('b'), 'F32')]).toEqual([2, 3]);
  });

  it('rejects a tensor present in two files, naming both', async () => {
    const one = encodeSafetensors([f32Tensor('a', [1], new Float32Array([1]))]);
    const error = await rejection(openSafetensorsSet([bytesSource(one, 'one'), bytesSource(one, 'two')]));
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/"a".*one.*two/);
  });
});

function memoryDirectory(files: Record<string, Uint8Array | string>): DirectoryReader {
  return {
    readText(p) {
      const f = files[p];
      return typeof f === 'string' ? Promise.resolve(f) : Promise.reject(new Error(`ENOENT ${p}`));
    },
    open(p) {
      const f = files[p];
      return f instanceof Uint8Array ? Promise.resolve(bytesSource(f, p)) : Promise.reject(new Error(`ENOENT ${p}`));
    },
  };
}

describe('openDiffusersShards', () => {
  const shard1 = encodeSafetensors([f32Tensor('x.weight', [1], new Float32Array([1]))]);
  const shard2 = encodeSafetensors([f32Tensor('y.weight', [1], new Float32Array([2]))]);
  const index = JSON.stringify({
    metadata: { total_size: 8 },
    weight_map: { 'x.weight': 'diffusion_pytorch_model-00001-of-00002.safetensors', 'y.weight': 'diffusion_pytorch_model-00002-of-00002.safetensors' },
  });

  it('opens a sharded component through its index', async () => {
    const io = memoryDirectory({
      'transformer/diffusion_pytorch_model.safetensors.index.json': index,
      'transformer/diffusion_pytorch_model-00001-of-00002.safetensors': shard1,
      'transformer/diffusion_pytorch_model-00002-of-00002.safetensors': shard2,
    });
    const source = await openDiffusersShards(io, 'transformer');
    expect([...source.tensors.keys()].sort()).toEqual(['x.weight', 'y.weight']);
    expect([...toFloat32(await source.read('y.weight'), 'F32')]).toEqual([2]);
  });

  it('opens a single-file component (transformers name)', async () => {
    const source = await openDiffusersShards(memoryDirectory({ 'text_encoder/model.safetensors': shard1 }), 'text_encoder/');
    expect([...source.tensors.keys()]).toEqual(['x.weight']);
  });

  it('rejects an index whose shard lacks a listed tensor', async () => {
    const io = memoryDirectory({
      'vae/diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { 'x.weight': 's1.safetensors', 'z.weight': 's1.safetensors' } }),
      'vae/s1.safetensors': shard1,
    });
    await expect(openDiffusersShards(io, 'vae')).rejects.toThrow(/"z\.weight".*missing/);
  });

  it('rejects a folder without weights', async () => {
    await expect(openDiffusersShards(memoryDirectory({}), 'vae')).rejects.toThrow(FileFormatError);
  });

  it('rejects an index without weight_map or with paths outside the folder', () => {
    expect(() => parseSafetensorsIndex('{}', 'i.json')).toThrow(/weight_map/);
    expect(() => parseSafetensorsIndex('nope', 'i.json')).toThrow(/not JSON/);
    expect(() => parseSafetensorsIndex(JSON.stringify({ weight_map: { a: '../x.safetensors' } }), 'i.json')).toThrow(/beside the index/);
  });
});

describe('reference checkpoints', () => {
  it('opens c1_sd3m/weights.safetensors and reads a tensor of the declared size', async () => {
    const source = await openSafetensors(await fileSource(path.join(VECTORS_DIR, 'c1_sd3m/weights.safetensors')));
    expect(source.tensors.size).toBe(51);
    const info = source.tensors.get('model.diffusion_model.context_embedder.weight');
    expect(info).toMatchObject({ shape: [128, 4096], dtype: 'F32', byteLength: 128 * 4096 * 4 });
    const bytes = await source.read('model.diffusion_model.context_embedder.weight');
    expect(bytes.byteLength).toBe(128 * 4096 * 4);
    expect(toFloat32(bytes, 'F32').every(Number.isFinite)).toBe(true);
  });

  it('opens the c3 diffusers transformer folder', async () => {
    const source = await openDiffusersShards(fileDirectoryReader, path.join(VECTORS_DIR, 'c3_sd35m_mmditx/diffusers/transformer'));
    expect(source.tensors.has('context_embedder.weight')).toBe(true);
    expect(source.tensors.has('pos_embed.pos_embed')).toBe(true);
  });

  it('opens c4 with its F16 tensors', async () => {
    const source = await openSafetensors(await fileSource(path.join(VECTORS_DIR, 'c4_big_d4/weights.safetensors')));
    const dtypes = new Set([...source.tensors.values()].map((t) => t.dtype));
    expect(dtypes.has('F16')).toBe(true);
  });
});
