import { describe, expect, it } from 'vitest';
import { CheckpointError, LimitExceededError, ShardIntegrityError } from '../../../src/errors.js';
import { Runtime } from '../../../src/runtime/runtime.js';
import { loadModelWeights, uploadTensors } from '../../../src/runtime/weights.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { convert } from '../../../src/weights/convert.js';
import { encodeF16, encodeF32 } from '../../../src/weights/decode.js';
import { type ModelManifest, parseManifest } from '../../../src/weights/manifest.js';
import { manifestSource } from '../../../src/weights/manifest-source.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors } from '../../../src/weights/safetensors-write.js';
import { cappedTestGpu, testGpu } from '../../setup/gpu.js';
import { f32Tensor, randomFloats } from '../weights/helpers.js';

/** The one uploader, from a checkpoint's tensors and from a converted model's verified shards. */

function bf16(values: readonly number[]): Uint8Array {
  const f = encodeF32(values);
  const out = new Uint8Array(values.length * 2);
  for (let i = 0; i < values.length; i++) out.set(f.subarray(i * 4 + 2, i * 4 + 4), i * 2);
  return out;
}

async function checkpoint() {
  const file = encodeSafetensors([
    { name: 'bias16', dtype: 'F16', shape: [3], data: encodeF16([1.5, -2, 2 ** -20]) },
    { name: 'scaleBf', dtype: 'BF16', shape: [2], data: bf16([0.5, -3]) },
    { name: 'w16', dtype: 'F16', shape: [2, 3], data: encodeF16([1, 2, 3, 4, 5, 6]) },
    { name: 'w32', dtype: 'F32', shape: [1, 2, 1, 1], data: encodeF32([7, 8]) },
  ]);
  return openSafetensors(bytesSource(file, 'test.safetensors'));
}

async function rt(widenHalfWeights?: boolean): Promise<Runtime> {
  const gpu = await testGpu();
  return new Runtime(gpu.ctx, widenHalfWeights === undefined ? { pipelines: gpu.cache } : { pipelines: gpu.cache, widenHalfWeights });
}

/** A converted int4 model in memory: a q4 matrix in row parts with scales, a bias, small shards. */
async function converted(): Promise<{ manifest: ModelManifest; files: Map<string, Uint8Array> }> {
  const files = new Map<string, Uint8Array>();
  const QKV = 'joint_blocks.0.x_block.attn.qkv.weight';
  await convert({
    model: 'tiny',
    quant: 'int4',
    inputs: { mmdit: await openSafetensors(bytesSource(encodeSafetensors([f32Tensor(QKV, [48, 64], randomFloats(48 * 64, 5)), f32Tensor('x.bias', [6], randomFloats(6, 6))]))) },
    shardBytes: 512,
    partBytes: 512,
    write: async (f, b) => void files.set(f, b.slice()),
  });
  return { manifest: parseManifest(JSON.parse(new TextDecoder().decode(files.get('manifest.json'))), 'manifest.json'), files };
}

describe('the one uploader', () => {
  it('widens f16/bf16 matrices to f32 by default on CPU emulation only (exactly, subnormals kept), never on GPUs', async () => {
    const runtime = await rt();
    expect(runtime.widenHalfWeights).toBe(runtime.ctx.caps.isFallbackAdapter);
    const wide = await rt(true);
    const weights = await uploadTensors(wide, await checkpoint());
    try {
      expect(weights.get('w16')?.format).toBe('f32');
      expect(weights.get('w32')?.format).toBe('f32');
      expect([...new Float32Array(await wide.ctx.read(weights.tensor('w16').buffer, 0, 24))]).toEqual([1, 2, 3, 4, 5, 6]);
      expect([...new Float32Array(await wide.ctx.read(weights.tensor('bias16').buffer, 0, 12))]).toEqual([1.5, -2, 2 ** -20]);
    } finally {
      weights.release();
    }
  });

  it('uploads a checkpoint: rank-1 tensors as f32 (exact, subnormals kept), matrices in their stored format', async () => {
    const runtime = await rt(false);
    const weights = await uploadTensors(runtime, await checkpoint());
    const ctx = runtime.ctx;
    try {
      expect([...weights.keys()]).toEqual(['bias16', 'scaleBf', 'w16', 'w32']);
      expect(weights.get('bias16')?.format).toBe('f32');
      expect(weights.get('scaleBf')?.format).toBe('f32');
      expect(weights.get('w16')?.format).toBe('f16');
      expect(weights.get('w32')?.shape).toEqual([1, 2, 1, 1]);
      expect([...new Float32Array(await ctx.read(weights.tensor('bias16').buffer, 0, 12))]).toEqual([1.5, -2, 2 ** -20]);
      expect([...new Float32Array(await ctx.read(weights.tensor('scaleBf').buffer, 0, 8))]).toEqual([0.5, -3]);
      expect([...new Uint8Array(await ctx.read(weights.tensor('w16').buffer, 0, 12))]).toEqual([...encodeF16([1, 2, 3, 4, 5, 6])]);
    } finally {
      weights.release();
    }
  });

  it('uploads only the named tensors, names a missing one, and leaks no buffer on failure', async () => {
    const runtime = await rt();
    const source = await checkpoint();
    const before = runtime.ctx.memory.liveBuffers;
    const some = await uploadTensors(runtime, source, ['w32']);
    expect([...some.keys()]).toEqual(['w32']);
    some.release();
    expect(runtime.ctx.memory.liveBuffers).toBe(before);
    await expect(uploadTensors(runtime, source, ['w32', 'nope'])).rejects.toThrow(CheckpointError);
    await expect(uploadTensors(runtime, source, ['nope'])).rejects.toThrow(/"nope"/);
    const failing = { ...source, read: async (name: string) => (name === 'w32' ? Promise.reject(new Error('disk gone')) : source.read(name)) };
    await expect(uploadTensors(runtime, failing)).rejects.toThrow('disk gone');
    expect(runtime.ctx.memory.liveBuffers).toBe(before);
  });

  it('streams a converted model: every tensor, row part and scale written piecewise from verified shards', async () => {
    const runtime = await rt();
    const { manifest, files } = await converted();
    const QKV = 'joint_blocks.0.x_block.attn.qkv.weight';
    const seen: number[] = [];
    const loaded = await loadModelWeights(runtime, {
      manifest, manifestUrl: 'manifest.json', cache: null,
      readShard: async (url) => files.get(url) ?? new Uint8Array(0),
      onShardWritten: (s) => void seen.push(s.index),
    });
    const w = loaded.mmdit!;
    try {
      expect(seen.sort((a, b) => a - b)).toEqual(manifest.components.mmdit!.shards.map((_, i) => i));
      const source = manifestSource(manifest, 'mmdit', async (s) => bytesSource(files.get(s.file) ?? new Uint8Array(0)));
      // The three 512-byte parts of the stored tensor land in one buffer: it fits maxBufferSize.
      expect(manifest.components.mmdit!.tensors[QKV]!.parts?.length).toBe(3);
      const qkv = w.tensor(QKV);
      expect(qkv).toMatchObject({ shape: [48, 64], format: 'q4', offset: 0 });
      expect(qkv.scales).toMatchObject({ format: 'f16', shape: [48, 2] });
      expect(new Uint8Array(await runtime.ctx.read(qkv.buffer, 0, 48 * 32))).toEqual(await source.read(QKV));
      expect(new Uint8Array(await runtime.ctx.read(qkv.scales!.buffer, 0, 48 * 4))).toEqual(await source.readScales!(QKV));
      expect(new Uint8Array(await runtime.ctx.read(w.tensor('x.bias').buffer, 0, 24))).toEqual(await source.read('x.bias'));
      expect(w.storedConfig).toEqual(manifest.components.mmdit!.config);
    } finally {
      w.release();
    }
  });

  it('checks every shard before its bytes reach a buffer: a corrupt one fails the load and frees what was made', async () => {
    const runtime = await rt();
    const { manifest, files } = await converted();
    const before = runtime.ctx.memory.liveBuffers;
    const bad = (files.get('mmdit-00001.bin') ?? new Uint8Array(0)).slice();
    bad[3] = (bad[3] ?? 0) ^ 0x40;
    const written: number[] = [];
    const error = await loadModelWeights(runtime, {
      manifest, manifestUrl: 'manifest.json', cache: null, concurrency: 1,
      readShard: async (url) => (url === 'mmdit-00001.bin' ? bad : (files.get(url) ?? new Uint8Array(0))),
      onShardWritten: (s) => void written.push(s.index),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShardIntegrityError);
    expect(written).not.toContain(1);
    expect(runtime.ctx.memory.liveBuffers).toBe(before);
  });

  it('holds a tensor larger than maxBufferSize in row parts, reachable as a table only', async () => {
    const capped = await cappedTestGpu({ maxBufferSize: 2048 });
    try {
      const runtime = new Runtime(capped.ctx, { pipelines: capped.cache });
      const values = randomFloats(64 * 32, 9);
      const source = await openSafetensors(bytesSource(encodeSafetensors([f32Tensor('table', [64, 32], values)])));
      const w = await uploadTensors(runtime, source);
      const parts = w.table('table') as readonly { shape: readonly number[]; buffer: GPUBuffer }[];
      expect(parts.map((p) => p.shape)).toEqual([[16, 32], [16, 32], [16, 32], [16, 32]]);
      const joined = new Float32Array(64 * 32);
      for (const [i, p] of parts.entries()) joined.set(new Float32Array(await capped.ctx.read(p.buffer, 0, 16 * 32 * 4)), i * 16 * 32);
      expect(joined).toEqual(values);
      expect(() => w.get('table')).toThrow(LimitExceededError);
      w.release();
    } finally {
      capped.ctx.dispose();
    }
  });
});
