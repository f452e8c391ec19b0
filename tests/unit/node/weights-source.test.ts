import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, FileAccessError, FileFormatError } from '../../../src/errors.js';
import { convertCheckpoints } from '../../../src/node/commands/convert.js';
import { detectFamilies, openWeightsComponent, openWeightsFile, openWeightsPath } from '../../../src/node/weights-source.js';
import { encodeSafetensors } from '../../../src/weights/safetensors-write.js';
import { f32Tensor, randomFloats, SHARED_DIR } from '../weights/helpers.js';
import { C1, C1_ONNX, C3_DIFFUSERS_TRANSFORMER, tempDir, TEXT, writeDiffusersRoot, writeSingleFile } from './fixtures.js';

let dir = '';
let singleFile = '';
let converted = '';
beforeAll(async () => {
  dir = await tempDir('weights-source');
  singleFile = await writeSingleFile(dir, { t5: false });
  converted = path.join(dir, 'converted');
  await convertCheckpoints({ inputs: [singleFile], out: converted, quant: 'int8', log: () => undefined });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sorted = (o: object): string[] => Object.keys(o).sort();

describe('weights by path', () => {
  it('an SD3 single file splits into its components by prefix', async () => {
    const opened = await openWeightsPath(singleFile);
    expect(sorted(opened.components)).toEqual(['clip_g', 'clip_l', 'mmdit', 'vae']);
    expect(opened.loose).toBeNull();
    expect(await openWeightsComponent(singleFile, 't5')).toBeNull();
    const mmdit = await openWeightsFile(singleFile);
    expect(mmdit.tensors.has('model.diffusion_model.x_embedder.proj.weight')).toBe(true);
    expect([...mmdit.tensors.keys()].every((n) => n.startsWith('model.diffusion_model.'))).toBe(true);
  });

  it('a converted model opens from its manifest or its folder, with q8 tensors and their scales', async () => {
    for (const p of [path.join(converted, 'manifest.json'), converted]) {
      const opened = await openWeightsPath(p);
      expect(opened.manifest?.variant).toBe('int8');
      expect(sorted(opened.components)).toEqual(['clip_g', 'clip_l', 'mmdit', 'vae']);
      const mmdit = await openWeightsFile(p, 'mmdit');
      expect(mmdit.tensors.get('joint_blocks.0.x_block.attn.qkv.weight')?.dtype).toBe('Q8');
      expect((await mmdit.readScales?.('joint_blocks.0.x_block.attn.qkv.weight'))?.byteLength).toBe(384 * 4);
    }
  });

  it('a diffusers root opens by component folder; a component folder alone is a loose file', async () => {
    const root = await writeDiffusersRoot(dir, path.join(SHARED_DIR, 'tokenizers'));
    expect(sorted((await openWeightsPath(root)).components)).toEqual(['clip_l', 'mmdit', 'vae']);
    expect((await openWeightsFile(root, 'clip_l')).tensors.has('text_model.embeddings.token_embedding.weight')).toBe(true);
    const transformer = await openWeightsPath(C3_DIFFUSERS_TRANSFORMER);
    expect(transformer.loose && detectFamilies(transformer.loose)).toEqual(['mmdit']);
    expect(await openWeightsComponent(C3_DIFFUSERS_TRANSFORMER, 'mmdit')).not.toBeNull();
  });

  it('a loose CLIP file serves either CLIP and no other component', async () => {
    expect(await openWeightsComponent(TEXT.clip_g, 'clip_l')).not.toBeNull();
    expect(await openWeightsComponent(TEXT.clip_g, 'clip_g')).not.toBeNull();
    expect(await openWeightsComponent(TEXT.clip_g, 't5')).toBeNull();
    await expect(openWeightsFile(TEXT.clip_g)).rejects.toThrow(CheckpointError);
  });

  it('recognises each family from its names; original denoiser files split by their prefix', async () => {
    const families = async (p: string) => detectFamilies((await openWeightsPath(p)).loose!);
    expect(sorted((await openWeightsPath(C1)).components)).toEqual(['mmdit']);
    expect(sorted((await openWeightsPath(C1_ONNX)).components)).toEqual(['mmdit']);
    expect(await families(C3_DIFFUSERS_TRANSFORMER)).toEqual(['mmdit']);
    expect(await families(TEXT.clip_l)).toEqual(['clip']);
    expect(await families(TEXT.t5)).toEqual(['t5']);
    expect(await families(TEXT.vae)).toEqual(['vae']);
  });

  it('opens a sharded *.safetensors.index.json and checks its weight map', async () => {
    const sharded = path.join(dir, 'sharded');
    await mkdir(sharded, { recursive: true });
    await writeFile(path.join(sharded, 'a.safetensors'), encodeSafetensors([f32Tensor('x.weight', [2, 2], randomFloats(4, 1))]));
    await writeFile(path.join(sharded, 'b.safetensors'), encodeSafetensors([f32Tensor('y.weight', [2, 2], randomFloats(4, 2))]));
    const index = path.join(sharded, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ weight_map: { 'x.weight': 'a.safetensors', 'y.weight': 'b.safetensors' } }));
    expect([...(await openWeightsPath(index)).loose!.tensors.keys()].sort()).toEqual(['x.weight', 'y.weight']);
    await writeFile(index, JSON.stringify({ weight_map: { 'x.weight': 'a.safetensors', 'z.weight': 'b.safetensors' } }));
    await expect(openWeightsPath(index)).rejects.toThrow(/z\.weight/);
  });

  it('leaves integer buffers out with a note, but rejects a float weight of an unsupported dtype by name', async () => {
    const withIds = path.join(dir, 'clip_with_ids.safetensors');
    const ids = { name: 'text_model.embeddings.position_ids', dtype: 'I64', shape: [1, 2], data: new Uint8Array(16) };
    await writeFile(withIds, encodeSafetensors([f32Tensor('text_model.embeddings.token_embedding.weight', [4, 2], randomFloats(8, 3)), ids]));
    const opened = await openWeightsPath(withIds);
    expect([...opened.loose!.tensors.keys()]).toEqual(['text_model.embeddings.token_embedding.weight']);
    expect(opened.notes.join()).toMatch(/position_ids \(I64\).*left out/);
    const f64 = path.join(dir, 'f64.safetensors');
    await writeFile(f64, encodeSafetensors([{ name: 'x_embedder.proj.weight', dtype: 'F64', shape: [2], data: new Uint8Array(16) }]));
    await expect(openWeightsPath(f64)).rejects.toThrow(/"x_embedder\.proj\.weight": dtype F64 in .*f64\.safetensors is not supported/);
  });

  it('a missing path is a FileAccessError, an unknown extension or an empty folder a FileFormatError, naming it', async () => {
    await expect(openWeightsPath(path.join(dir, 'nothing.safetensors'))).rejects.toThrow(FileAccessError);
    await expect(openWeightsPath(path.join(dir, 'nothing.safetensors'))).rejects.toThrow(/nothing\.safetensors: no such file or folder/);
    const other = path.join(dir, 'weights.bin');
    await writeFile(other, new Uint8Array(8));
    await expect(openWeightsPath(other)).rejects.toThrow(/weights\.bin: unknown weights file/);
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(openWeightsPath(empty)).rejects.toThrow(/empty: holds no manifest\.json/);
  });
});
