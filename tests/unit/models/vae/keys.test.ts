import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../../src/errors.js';
import { canonicalVaeSource, openVaeCheckpoint, reorderConv } from '../../../../src/models/vae/index.js';
import { diffusersVae, editedSource, referenceVae } from './sources.js';

describe('VAE keys', () => {
  it('reorders conv weights to [out, kh, kw, in] and pads input channels to a multiple of 4', () => {
    const [out, cin, k] = [2, 3, 3];
    const src = Float32Array.from({ length: out * cin * k * k }, (_, i) => i + 1);
    const dst = new Float32Array(reorderConv(new Uint8Array(src.buffer), [out, cin, k, k], 4).buffer);
    expect(dst.length).toBe(out * k * k * 4);
    for (let o = 0; o < out; o++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++) {
          for (let c = 0; c < 4; c++) {
            const expected = c < cin ? src[((o * cin + c) * k + y) * k + x] : 0;
            expect(dst[((o * k + y) * k + x) * 4 + c]).toBe(expected);
          }
        }
      }
    }
  });

  it('reads the reference layout with its conv weights reordered and q, k, v fused', async () => {
    const src = await referenceVae();
    const vae = canonicalVaeSource(src);
    expect(vae.layout).toBe('reference');
    expect(vae.source.tensors.get('decoder.mid.attn_1.qkv.weight')?.shape).toEqual([192, 1, 1, 64]);
    expect(vae.source.tensors.get('encoder.conv_in.weight')?.shape).toEqual([32, 3, 3, 4]);
    expect(vae.source.tensors.get('decoder.up.1.block.0.conv1.weight')?.shape).toEqual([32, 3, 3, 64]);
    const qkv = await vae.source.read('decoder.mid.attn_1.qkv.bias');
    const parts = await Promise.all(['q', 'k', 'v'].map((p) => src.read(`decoder.mid.attn_1.${p}.bias`)));
    expect(Array.from(qkv)).toEqual(parts.flatMap((p) => Array.from(p)));
  });

  it('finds the VAE under first_stage_model. and ignores the rest of a full checkpoint', async () => {
    const src = await referenceVae();
    const full = editedSource(src, {
      rename: (n) => `first_stage_model.${n}`,
      extra: new Map([['model.diffusion_model.x_embedder.proj.bias', { info: { name: 'model.diffusion_model.x_embedder.proj.bias', shape: [2], dtype: 'F16', byteLength: 4 }, bytes: new Uint8Array(4) }]]),
    });
    const vae = canonicalVaeSource(full);
    expect(vae.prefix).toBe('first_stage_model.');
    const plain = canonicalVaeSource(src);
    expect([...vae.source.tensors.keys()].sort()).toEqual([...plain.source.tensors.keys()].sort());
    expect(Array.from(await vae.source.read('decoder.conv_in.weight'))).toEqual(Array.from(await plain.source.read('decoder.conv_in.weight')));
  });

  it('maps the diffusers layout (reversed up_blocks, [C, C] attention) onto the same canonical decoder', async () => {
    const reference = canonicalVaeSource(await referenceVae()).source;
    const diffusers = canonicalVaeSource(await diffusersVae());
    expect(diffusers.layout).toBe('diffusers');
    const decoderNames = [...reference.tensors.keys()].filter((n) => n.startsWith('decoder.')).sort();
    expect([...diffusers.source.tensors.keys()].sort()).toEqual(decoderNames);
    for (const name of decoderNames) {
      expect(diffusers.source.tensors.get(name)?.shape, name).toEqual(reference.tensors.get(name)?.shape);
      expect(Buffer.from(await diffusers.source.read(name)).equals(Buffer.from(await reference.read(name))), name).toBe(true);
    }
  });

  it('names a missing tensor by its checkpoint key', async () => {
    const src = editedSource(await referenceVae(), { rename: (n) => (n === 'decoder.up.1.block.2.conv2.bias' ? null : n) });
    expect(() => openVaeCheckpoint(src)).toThrow(CheckpointError);
    expect(() => openVaeCheckpoint(src)).toThrow(/decoder\.up\.1\.block\.2\.conv2\.bias/);
  });

  it('names an unexpected tensor under the VAE prefix', async () => {
    const info = { name: 'decoder.up.1.extra.weight', shape: [4], dtype: 'F16' as const, byteLength: 8 };
    const src = editedSource(await referenceVae(), { extra: new Map([[info.name, { info, bytes: new Uint8Array(8) }]]) });
    expect(() => openVaeCheckpoint(src)).toThrow(/decoder\.up\.1\.extra\.weight/);
  });

  it('names a mis-shaped tensor with the expected and actual shapes', async () => {
    const src = editedSource(await referenceVae(), {
      info: (i) => (i.name === 'decoder.mid.block_1.norm2.weight' ? { ...i, shape: [63], byteLength: 126 } : i),
    });
    expect(() => openVaeCheckpoint(src)).toThrow(/decoder\.mid\.block_1\.norm2\.weight.*\[64\].*\[63\]/);
  });

  it('rejects quantised VAE tensors', async () => {
    const src = editedSource(await referenceVae(), { info: (i) => (i.name === 'decoder.conv_out.weight' ? { ...i, dtype: 'Q8' } : i) });
    expect(() => openVaeCheckpoint(src)).toThrow(/decoder\.conv_out\.weight.*never quantised/);
  });
});
