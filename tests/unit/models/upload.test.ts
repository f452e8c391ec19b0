import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../src/errors.js';
import { releaseWeights, uploadWeights } from '../../../src/models/upload.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { encodeF16, encodeF32 } from '../../../src/weights/decode.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors } from '../../../src/weights/safetensors-write.js';
import { testGpu } from '../../setup/gpu.js';

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

describe('uploadWeights', () => {
  it('uploads rank-1 tensors as f32 (exact, subnormals kept) and matrices in their stored format', async () => {
    const { ctx } = await testGpu();
    const weights = await uploadWeights(ctx, await checkpoint());
    try {
      expect([...weights.keys()]).toEqual(['bias16', 'scaleBf', 'w16', 'w32']);
      expect(weights.get('bias16')?.format).toBe('f32');
      expect(weights.get('scaleBf')?.format).toBe('f32');
      expect(weights.get('w16')?.format).toBe('f16');
      expect(weights.get('w32')?.shape).toEqual([1, 2, 1, 1]);
      const bias = new Float32Array(await ctx.read(weights.get('bias16')!.buffer, 0, 12));
      expect([...bias]).toEqual([1.5, -2, 2 ** -20]);
      const scale = new Float32Array(await ctx.read(weights.get('scaleBf')!.buffer, 0, 8));
      expect([...scale]).toEqual([0.5, -3]);
      const w16 = new Uint8Array(await ctx.read(weights.get('w16')!.buffer, 0, 12));
      expect([...w16]).toEqual([...encodeF16([1, 2, 3, 4, 5, 6])]);
    } finally {
      releaseWeights(ctx, weights);
    }
  });

  it('uploads only the named tensors and names a missing one in a CheckpointError', async () => {
    const { ctx } = await testGpu();
    const source = await checkpoint();
    const before = ctx.memory.liveBuffers;
    const some = await uploadWeights(ctx, source, ['w32']);
    expect([...some.keys()]).toEqual(['w32']);
    releaseWeights(ctx, some);
    expect(ctx.memory.liveBuffers).toBe(before);
    await expect(uploadWeights(ctx, source, ['w32', 'nope'])).rejects.toThrow(CheckpointError);
    await expect(uploadWeights(ctx, source, ['nope'])).rejects.toThrow(/"nope"/);
  });
});
