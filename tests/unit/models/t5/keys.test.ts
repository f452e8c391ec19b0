import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../../src/errors.js';
import { canonicalT5Source, deriveT5Config, expectedT5Tensors } from '../../../../src/models/t5/index.js';
import { bytesSource } from '../../../../src/weights/byte-source.js';
import { toFloat32 } from '../../../../src/weights/decode.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import { encodeSafetensors } from '../../../../src/weights/safetensors-write.js';
import type { TensorSource } from '../../../../src/weights/tensor-source.js';
import { randomT5, type T5Dims } from '../text-checkpoints.js';

const dims: T5Dims = { vocab: 40, dModel: 16, heads: 2, dKv: 4, dFf: 24, layers: 3, buckets: 32, seed: 1 };

async function open(file: Uint8Array): Promise<TensorSource> {
  return openSafetensors(bytesSource(file, 't5.safetensors'));
}

async function edited(file: Uint8Array, edit: (name: string) => string | null, extra: { name: string; shape: number[] }[] = []): Promise<TensorSource> {
  const src = await open(file);
  const tensors = [];
  for (const info of src.tensors.values()) {
    const name = edit(info.name);
    if (name) tensors.push({ name, dtype: info.dtype, shape: info.shape, data: await src.read(info.name) });
  }
  for (const e of extra) tensors.push({ name: e.name, dtype: 'F16', shape: e.shape, data: new Uint8Array(e.shape.reduce((p, d) => p * d, 1) * 2) });
  return open(encodeSafetensors(tensors));
}

describe('T5 keys and config', () => {
  it('derives heads and buckets from the bias table and d_kv from the q rows', async () => {
    const ckpt = randomT5(dims);
    const { source } = canonicalT5Source(await open(ckpt.file));
    const config = deriveT5Config(source.tensors, { maxDistance: 64 });
    expect(config).toEqual({ vocabSize: 40, dModel: 16, heads: 2, dKv: 4, dFf: 24, layers: 3, numBuckets: 32, maxDistance: 64, eps: 1e-6 });
    expect([...source.tensors.keys()].sort()).toEqual([...expectedT5Tensors(config).keys()].sort());
    expect(toFloat32(await source.read('blocks.2.attn.qkv.weight'), 'F16')).toEqual(ckpt.weights.get('blocks.2.attn.qkv.weight'));
  });

  it('accepts the tied shared.weight alone, and ignores it beside encoder.embed_tokens', async () => {
    const tied = canonicalT5Source(await open(randomT5({ ...dims, tied: true }).file));
    expect(tied.describe('embed_tokens.weight')).toBe('shared.weight');
    const both = await edited(randomT5(dims).file, (n) => n, [{ name: 'shared.weight', shape: [40, 16] }]);
    expect(canonicalT5Source(both).describe('embed_tokens.weight')).toBe('encoder.embed_tokens.weight');
  });

  it('reads the SD3 single-file prefix', async () => {
    const prefixed = canonicalT5Source(await open(randomT5({ ...dims, prefix: 'text_encoders.t5xxl.transformer.' }).file));
    expect(prefixed.prefix).toBe('text_encoders.t5xxl.transformer.');
    expect(prefixed.source.tensors.has('blocks.0.ffn.wo.weight')).toBe(true);
  });

  it('names a missing block tensor by its checkpoint key', async () => {
    const src = await edited(randomT5(dims).file, (n) => (n === 'encoder.block.1.layer.1.DenseReluDense.wi_1.weight' ? null : n));
    expect(() => canonicalT5Source(src)).toThrow(expect.objectContaining({ key: 'encoder.block.1.layer.1.DenseReluDense.wi_1.weight' }));
  });

  it('names an unexpected tensor (a relative bias table outside block 0)', async () => {
    const src = await edited(randomT5(dims).file, (n) => n, [{ name: 'encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight', shape: [32, 2] }]);
    expect(() => canonicalT5Source(src)).toThrow(CheckpointError);
  });

  it('rejects q rows that are not 3·heads·d_kv', () => {
    const info = (name: string, shape: number[]) => [name, { name, shape, dtype: 'F16' as const, byteLength: 0 }] as const;
    const tensors = new Map([info('embed_tokens.weight', [10, 8]), info('relative_attention_bias.weight', [32, 3]), info('blocks.0.attn.qkv.weight', [16, 8])]);
    expect(() => deriveT5Config(tensors)).toThrow(expect.objectContaining({ key: 'blocks.0.attn.qkv.weight' }));
  });
});
