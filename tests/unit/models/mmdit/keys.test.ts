import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../../src/errors.js';
import { canonicalizeMmdit, ORIGINAL_PREFIX } from '../../../../src/models/mmdit/keys.js';
import { encodeF32 } from '../../../../src/weights/decode.js';
import type { TensorSource } from '../../../../src/weights/tensor-source.js';
import type { RefConfig } from '../../../reference/mmdit.js';
import { tinyMmdit, tinySafetensors, toDiffusers, type TinyTensor } from './tiny.js';

const CONFIG: RefConfig = {
  depth: 3, hidden: 128, patch: 2, inChannels: 16, outChannels: 16, posEmbedMaxSize: 4,
  contextDim: 32, pooledDim: 24, mlpHidden: 512, qkNorm: true, dual: [0, 2],
};

function without(map: ReadonlyMap<string, TinyTensor>, name: string): Map<string, TinyTensor> {
  const copy = new Map(map);
  copy.delete(name);
  return copy;
}

async function errorOf(source: Promise<TensorSource>): Promise<CheckpointError> {
  const s = await source;
  try {
    canonicalizeMmdit(s);
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return error as CheckpointError;
  }
  throw new Error('expected a CheckpointError');
}

describe('MM-DiT canonical keys and configuration', () => {
  it('derives the configuration of an original-layout checkpoint from names and shapes', async () => {
    const c = canonicalizeMmdit(await tinySafetensors(tinyMmdit(CONFIG), { prefix: ORIGINAL_PREFIX }));
    expect(c.layout).toBe('original');
    expect(c.config).toEqual({
      hidden: 128, heads: 2, headDim: 64, depth: 3, patch: 2, inChannels: 16, outChannels: 16,
      posEmbedMaxSize: 4, contextDim: 32, pooledDim: 24, mlpHidden: 512, frequencyDim: 256,
      qkNorm: true, dualAttentionLayers: [0, 2],
    });
  });

  it('reads the head width from the QK-norm scales: four heads of 16 at hidden 64', async () => {
    const narrow = { ...CONFIG, hidden: 64, headDim: 16 };
    const c = canonicalizeMmdit(await tinySafetensors(tinyMmdit(narrow), { prefix: ORIGINAL_PREFIX }));
    expect(c.config).toMatchObject({ hidden: 64, heads: 4, headDim: 16, qkNorm: true });
  });

  it('a QK-norm scale whose halves are not one head of a whole split is a CheckpointError', async () => {
    const bad = { ...CONFIG, hidden: 64, headDim: 24 };
    const e = await errorOf(tinySafetensors(tinyMmdit(bad), { prefix: ORIGINAL_PREFIX }));
    expect(e.message).toMatch(/multiple of the head width 24/);
  });

  it('fuses ln_q ‖ ln_k into one canonical QK-norm tensor', async () => {
    const tensors = tinyMmdit(CONFIG);
    const c = canonicalizeMmdit(await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    const fused = new Float32Array((await c.source.read('joint_blocks.1.context_block.attn.ln_qk.weight')).slice().buffer);
    const q = tensors.get('joint_blocks.1.context_block.attn.ln_q.weight')!.data;
    const k = tensors.get('joint_blocks.1.context_block.attn.ln_k.weight')!.data;
    expect([...fused]).toEqual([...q, ...k]);
    expect(c.source.tensors.has('joint_blocks.1.context_block.attn.ln_q.weight')).toBe(false);
  });

  it('maps the diffusers layout onto the same canonical tensors, byte for byte', async () => {
    const tensors = tinyMmdit(CONFIG);
    const original = canonicalizeMmdit(await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    const diffusers = canonicalizeMmdit(await tinySafetensors(toDiffusers(tensors, CONFIG.depth)));
    expect(diffusers.layout).toBe('diffusers');
    expect(diffusers.config).toEqual(original.config);
    expect([...diffusers.source.tensors.keys()].sort()).toEqual([...original.source.tensors.keys()].sort());
    for (const name of original.source.tensors.keys()) {
      expect(Buffer.from(await diffusers.source.read(name)).equals(Buffer.from(await original.source.read(name))), name).toBe(true);
    }
  });

  it('ignores other components of a single-file checkpoint and keeps the stored dtype', async () => {
    const extra = [{ name: 'first_stage_model.decoder.conv_in.weight', dtype: 'F32', shape: [2], data: encodeF32([1, 2]) }];
    const c = canonicalizeMmdit(await tinySafetensors(tinyMmdit(CONFIG), { prefix: ORIGINAL_PREFIX, dtype: 'F16', extra }));
    expect(c.source.tensors.get('joint_blocks.0.x_block.attn.qkv.weight')?.dtype).toBe('F16');
    expect([...c.source.tensors.keys()].some((k) => k.includes('first_stage'))).toBe(false);
  });

  it('a missing tensor is a CheckpointError naming its checkpoint key', async () => {
    const e = await errorOf(tinySafetensors(without(tinyMmdit(CONFIG), 'joint_blocks.1.x_block.mlp.fc2.bias'), { prefix: ORIGINAL_PREFIX }));
    expect(e.key).toBe(`${ORIGINAL_PREFIX}joint_blocks.1.x_block.mlp.fc2.bias`);
    expect(e.message).toMatch(/missing/);
  });

  it('an unexpected tensor is a CheckpointError naming its checkpoint key', async () => {
    const tensors = tinyMmdit(CONFIG);
    // A full context block where the last block must be pre-only.
    tensors.set('joint_blocks.2.context_block.attn.proj.weight', { shape: [128, 128], data: new Float32Array(128 * 128) });
    const e = await errorOf(tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    expect(e.key).toBe(`${ORIGINAL_PREFIX}joint_blocks.2.context_block.attn.proj.weight`);
    expect(e.message).toMatch(/unexpected/);
  });

  it('a mis-shaped tensor is a CheckpointError with the expected and actual shapes', async () => {
    const tensors = tinyMmdit(CONFIG);
    tensors.set('joint_blocks.0.x_block.attn.proj.weight', { shape: [128, 64], data: new Float32Array(128 * 64) });
    const e = await errorOf(tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    expect(e.key).toBe(`${ORIGINAL_PREFIX}joint_blocks.0.x_block.attn.proj.weight`);
    expect([e.expected, e.actual]).toEqual(['[128,128]', '[128,64]']);
  });

  it('a diffusers checkpoint missing one of q/k/v names the missing projection', async () => {
    const d = without(toDiffusers(tinyMmdit(CONFIG), CONFIG.depth), 'transformer_blocks.1.attn.to_k.weight');
    const e = await errorOf(tinySafetensors(d));
    expect(e.key).toContain('transformer_blocks.1.attn.to_');
    expect(e.message).toMatch(/missing/);
  });

  it('an unknown diffusers key is rejected by name', async () => {
    const d = toDiffusers(tinyMmdit(CONFIG), CONFIG.depth);
    d.set('transformer_blocks.0.attn.to_gate.weight', { shape: [2], data: new Float32Array(2) });
    expect((await errorOf(tinySafetensors(d))).key).toBe('transformer_blocks.0.attn.to_gate.weight');
  });

  it('a file with neither layout (or both) is rejected naming the marker keys', async () => {
    const none = await errorOf(tinySafetensors(new Map([['foo', { shape: [1], data: new Float32Array(1) }]])));
    expect(none.key).toContain('x_embedder.proj.weight');
    const both = new Map([...toDiffusers(tinyMmdit(CONFIG), CONFIG.depth)]);
    for (const [k, v] of tinyMmdit(CONFIG)) both.set(`${ORIGINAL_PREFIX}${k}`, v);
    expect((await errorOf(tinySafetensors(both))).message).toMatch(/more than one/);
  });

  it('a hidden width that is not a multiple of the 64-wide heads is rejected', async () => {
    const tensors = tinyMmdit({ ...CONFIG, hidden: 96, qkNorm: false, dual: [] });
    const e = await errorOf(tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    expect(e.key).toBe(`${ORIGINAL_PREFIX}joint_blocks.0.x_block.attn.qkv.weight`);
  });

  it('a mis-shaped tensor that a dimension is derived from is itself the one reported', async () => {
    for (const [name, shape] of [['joint_blocks.0.x_block.mlp.fc1.weight', [256, 128]], ['x_embedder.proj.weight', [64, 16, 2, 2]], ['joint_blocks.0.x_block.attn.qkv.weight', [384, 64]]] as const) {
      const tensors = tinyMmdit(CONFIG);
      tensors.set(name, { shape, data: new Float32Array(shape.reduce((p: number, d: number) => p * d, 1)) });
      expect((await errorOf(tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }))).key).toBe(`${ORIGINAL_PREFIX}${name}`);
    }
  });
});
