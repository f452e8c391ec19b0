import { describe, expect, it } from 'vitest';
import { CheckpointError, InvalidArgumentError } from '../../../../src/errors.js';
import { canonicalClipSource, deriveClipConfig, openClipCheckpoint } from '../../../../src/models/clip/index.js';
import { bytesSource } from '../../../../src/weights/byte-source.js';
import { toFloat32 } from '../../../../src/weights/decode.js';
import { mergeTensorSources } from '../../../../src/weights/merge.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import { encodeSafetensors } from '../../../../src/weights/safetensors-write.js';
import type { TensorSource } from '../../../../src/weights/tensor-source.js';
import { randomClip } from '../text-checkpoints.js';

const small = { vocab: 30, positions: 6, hidden: 16, mlp: 24, layers: 2, projection: 16 } as const;

async function open(file: Uint8Array, name = 'clip.safetensors'): Promise<TensorSource> {
  return openSafetensors(bytesSource(file, name));
}

/** The same file with tensors added, renamed or dropped. */
async function edited(file: Uint8Array, edit: (name: string) => string | null, extra: { name: string; shape: number[] }[] = []): Promise<TensorSource> {
  const src = await open(file);
  const tensors = [];
  for (const info of src.tensors.values()) {
    const name = edit(info.name);
    if (name) tensors.push({ name, dtype: info.dtype, shape: info.shape, data: await src.read(info.name) });
  }
  for (const e of extra) tensors.push({ name: e.name, dtype: 'F16', shape: e.shape, data: new Uint8Array(e.shape.reduce((p, d) => p * d, 1) * 2) });
  return open(encodeSafetensors(tensors), 'edited.safetensors');
}

describe('CLIP keys', () => {
  it('fuses q, k, v into one qkv matrix and bias, rows in q, k, v order', async () => {
    const ckpt = randomClip({ ...small, seed: 1 });
    const { source } = canonicalClipSource(await open(ckpt.file));
    const info = source.tensors.get('layers.1.attn.qkv.weight')!;
    expect(info.shape).toEqual([48, 16]);
    expect(toFloat32(await source.read(info.name), info.dtype)).toEqual(ckpt.weights.get('layers.1.attn.qkv.weight'));
    expect(toFloat32(await source.read('layers.0.attn.qkv.bias'), 'F16')).toEqual(ckpt.weights.get('layers.0.attn.qkv.bias'));
    expect([...source.tensors.keys()].sort()).toEqual([...ckpt.weights.keys()].sort());
  });

  it('ignores position_ids and logit_scale', async () => {
    const ckpt = randomClip({ ...small, seed: 2 });
    const src = await edited(ckpt.file, (n) => n, [{ name: 'text_model.embeddings.position_ids', shape: [1, 6] }, { name: 'logit_scale', shape: [] }]);
    expect(canonicalClipSource(src).source.tensors.has('logit_scale')).toBe(false);
  });

  it('picks clip_l or clip_g from an SD3 single file holding both', async () => {
    const l = randomClip({ ...small, prefix: 'text_encoders.clip_l.transformer.', seed: 3 });
    const g = randomClip({ ...small, hidden: 32, mlp: 40, projection: 32, prefix: 'text_encoders.clip_g.transformer.', seed: 4 });
    const both = mergeTensorSources([await open(l.file, 'l'), await open(g.file, 'g')], 'sd3.safetensors');
    expect(() => canonicalClipSource(both)).toThrow(CheckpointError);
    const clipG = canonicalClipSource(both, { model: 'clip_g' });
    expect(clipG.prefix).toBe('text_encoders.clip_g.transformer.');
    expect(clipG.modelHint).toBe('clip_g');
    const config = deriveClipConfig(clipG.source.tensors, { heads: 2 }, clipG.modelHint);
    expect(config).toMatchObject({ model: 'clip_g', hidden: 32, heads: 2, headDim: 16, layers: 2, mlpHidden: 40, activation: 'gelu_erf', projectPooled: true, projectionDim: 32 });
    const clipL = canonicalClipSource(both, { model: 'clip_l' });
    expect(deriveClipConfig(clipL.source.tensors, { heads: 2 }, clipL.modelHint)).toMatchObject({ model: 'clip_l', activation: 'quick_gelu', projectPooled: false });
  });

  it('reads canonical names (converted manifests) as they are', async () => {
    const ckpt = randomClip({ ...small, seed: 5 });
    const first = canonicalClipSource(await open(ckpt.file)).source;
    const tensors = [];
    for (const info of first.tensors.values()) tensors.push({ name: info.name, dtype: info.dtype, shape: info.shape, data: await first.read(info.name) });
    const again = canonicalClipSource(await open(encodeSafetensors(tensors)));
    expect(again.prefix).toBe('');
    expect([...again.source.tensors.keys()].sort()).toEqual([...first.tensors.keys()].sort());
  });

  it('names a missing tensor by its checkpoint key', async () => {
    const ckpt = randomClip({ ...small, seed: 6 });
    const src = await edited(ckpt.file, (n) => (n.endsWith('layers.1.self_attn.k_proj.weight') ? null : n));
    expect(() => canonicalClipSource(src)).toThrow(expect.objectContaining({ key: 'text_model.encoder.layers.1.self_attn.k_proj.weight' }));
  });

  it('names an unexpected tensor', async () => {
    const ckpt = randomClip({ ...small, seed: 7 });
    const src = await edited(ckpt.file, (n) => n, [{ name: 'text_model.encoder.layers.0.self_attn.extra.weight', shape: [4] }]);
    expect(() => canonicalClipSource(src)).toThrow(expect.objectContaining({ key: 'text_model.encoder.layers.0.self_attn.extra.weight' }));
  });

  it('names a mis-shaped tensor with the expected and actual shapes', async () => {
    const ckpt = randomClip({ ...small, seed: 8 });
    const src = await edited(ckpt.file, (n) => (n.endsWith('layers.1.mlp.fc2.weight') ? null : n), [{ name: 'text_model.encoder.layers.1.mlp.fc2.weight', shape: [16, 23] }]);
    expect(() => openClipCheckpoint(src, { heads: 1, model: 'clip_l' })).toThrow(
      expect.objectContaining({ key: 'text_model.encoder.layers.1.mlp.fc2.weight', expected: '[16,24]', actual: '[16,23]' }),
    );
  });

  it('tells L from G by width (768 / 1280) when nothing else names it, and asks otherwise', () => {
    const shapes = (d: number) => new Map([
      ['token_embedding.weight', { name: 'token_embedding.weight', shape: [10, d], dtype: 'F16' as const, byteLength: 0 }],
      ['position_embedding.weight', { name: 'position_embedding.weight', shape: [77, d], dtype: 'F16' as const, byteLength: 0 }],
      ['layers.0.mlp.fc1.weight', { name: 'layers.0.mlp.fc1.weight', shape: [4 * d, d], dtype: 'F16' as const, byteLength: 0 }],
      ['text_projection.weight', { name: 'text_projection.weight', shape: [d, d], dtype: 'F16' as const, byteLength: 0 }],
    ]);
    expect(deriveClipConfig(shapes(768))).toMatchObject({ model: 'clip_l', heads: 12, headDim: 64, activation: 'quick_gelu', projectPooled: false });
    expect(deriveClipConfig(shapes(1280))).toMatchObject({ model: 'clip_g', heads: 20, activation: 'gelu_erf', projectPooled: true });
    expect(() => deriveClipConfig(shapes(96))).toThrow(CheckpointError);
    expect(deriveClipConfig(shapes(96), { model: 'clip_l', heads: 12 })).toMatchObject({ headDim: 8 });
    expect(deriveClipConfig(shapes(768), { model: 'clip_g', activation: 'quick_gelu' })).toMatchObject({ activation: 'quick_gelu', projectPooled: true });
    expect(() => deriveClipConfig(shapes(96), { model: 'clip_l', heads: 7 })).toThrow(InvalidArgumentError);
  });

  it('requires text_projection for a projected pooled output', async () => {
    const ckpt = randomClip({ ...small, projection: null, seed: 9 });
    const canonical = canonicalClipSource(await open(ckpt.file));
    expect(() => deriveClipConfig(canonical.source.tensors, { model: 'clip_g', heads: 2 })).toThrow(expect.objectContaining({ key: 'text_projection.weight' }));
    expect(deriveClipConfig(canonical.source.tensors, { model: 'clip_l', heads: 2 }).projectionDim).toBeNull();
  });
});
