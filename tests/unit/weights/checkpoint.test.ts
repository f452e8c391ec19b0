import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../../../src/errors.js';
import { fileDirectoryReader, fileSource } from '../../../src/node/file-source.js';
import { bytesSource } from '../../../src/weights/byte-source.js';
import { openDiffusersModel, prefixView, splitSingleFile } from '../../../src/weights/checkpoint.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, f32Tensor, VECTORS_DIR } from './helpers.js';

const one = new Float32Array([1]);

async function singleFile() {
  return openSafetensors(
    bytesSource(
      encodeSafetensors([
        f32Tensor('model.diffusion_model.x_embedder.proj.bias', [1], one),
        f32Tensor('text_encoders.clip_l.transformer.text_model.final_layer_norm.bias', [1], one),
        f32Tensor('text_encoders.clip_g.transformer.text_model.final_layer_norm.bias', [1], one),
        f32Tensor('first_stage_model.decoder.conv_in.bias', [1], new Float32Array([5])),
        f32Tensor('stray.tensor', [1], one),
      ]),
    ),
  );
}

describe('splitSingleFile', () => {
  it('assigns tensors to components by prefix and reports the rest', async () => {
    const { components, unassigned } = splitSingleFile(await singleFile());
    expect(Object.keys(components).sort()).toEqual(['clip_g', 'clip_l', 'mmdit', 'vae']);
    expect([...(components.mmdit?.tensors.keys() ?? [])]).toEqual(['model.diffusion_model.x_embedder.proj.bias']);
    expect(unassigned).toEqual(['stray.tensor']);
  });

  it('strips prefixes when asked and still reads the right bytes', async () => {
    const { components } = splitSingleFile(await singleFile(), { strip: true });
    expect([...(components.vae?.tensors.keys() ?? [])]).toEqual(['decoder.conv_in.bias']);
    expect(components.vae?.tensors.get('decoder.conv_in.bias')?.name).toBe('decoder.conv_in.bias');
    expect(new Float32Array((await components.vae?.read('decoder.conv_in.bias'))?.slice().buffer ?? new ArrayBuffer(0))[0]).toBe(5);
  });

  it('splits the c1 reference checkpoint into its denoiser', async () => {
    const { components, unassigned } = splitSingleFile(await openSafetensors(await fileSource(path.join(VECTORS_DIR, 'c1_sd3m/weights.safetensors'))));
    expect(components.mmdit?.tensors.size).toBe(51);
    expect(unassigned).toEqual([]);
  });

  it('rejects reading outside the view', async () => {
    await expect(prefixView(await singleFile(), 'first_stage_model.').read('stray.tensor')).rejects.toThrow(/no such tensor/);
  });
});

describe('openDiffusersModel', () => {
  it('opens the components present in a diffusers folder', async () => {
    const components = await openDiffusersModel(fileDirectoryReader, path.join(VECTORS_DIR, 'c3_sd35m_mmditx/diffusers'));
    expect(Object.keys(components)).toEqual(['mmdit']);
    expect(components.mmdit?.tensors.has('transformer_blocks.0.attn.to_q.weight')).toBe(true);
  });

  it('rejects a folder with no components', async () => {
    await expect(openDiffusersModel(fileDirectoryReader, path.join(VECTORS_DIR, 'c1_sd3m'))).rejects.toThrow(FileFormatError);
  });
});
