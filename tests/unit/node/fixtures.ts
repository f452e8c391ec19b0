import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileSource } from '../../../src/node/file-source.js';
import { openSafetensors } from '../../../src/weights/safetensors.js';
import { encodeSafetensors, type SafetensorsTensor } from '../../../src/weights/safetensors-write.js';
import { VECTORS_DIR } from '../weights/helpers.js';

/**
 * Checkpoint layouts built from the public reference weights (read from ../shared, never copied
 * into the repository): an SD3 single file with every component under its prefix, and a diffusers
 * folder made of symbolic links.
 */

export const C1 = path.join(VECTORS_DIR, 'c1_sd3m/weights.safetensors');
export const C1_ONNX = path.join(VECTORS_DIR, 'c1_sd3m/model_b2_32x32_L13.onnx');
export const C2 = path.join(VECTORS_DIR, 'c2_sd35l_qknorm/weights.safetensors');
export const C3 = path.join(VECTORS_DIR, 'c3_sd35m_mmditx/weights.safetensors');
export const C3_DIFFUSERS_TRANSFORMER = path.join(VECTORS_DIR, 'c3_sd35m_mmditx/diffusers/transformer');
export const TEXT = {
  clip_l: path.join(VECTORS_DIR, 'text_vae/clip_l/weights.safetensors'),
  clip_g: path.join(VECTORS_DIR, 'text_vae/clip_g/weights.safetensors'),
  t5: path.join(VECTORS_DIR, 'text_vae/t5/weights.safetensors'),
  vae: path.join(VECTORS_DIR, 'text_vae/vae/weights.safetensors'),
  vaeDiffusers: path.join(VECTORS_DIR, 'text_vae/vae/diffusers/vae'),
} as const;

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `mmdit-${prefix}-`));
}

async function prefixed(file: string, prefix: string): Promise<SafetensorsTensor[]> {
  const source = await openSafetensors(await fileSource(file));
  const out: SafetensorsTensor[] = [];
  for (const info of source.tensors.values()) out.push({ name: prefix + info.name, dtype: info.dtype, shape: info.shape, data: await source.read(info.name) });
  return out;
}

/** An SD3 single-file checkpoint (c1 denoiser, the reduced text encoders and VAE), optionally without T5. */
export async function writeSingleFile(dir: string, o: { t5?: boolean } = {}): Promise<string> {
  const tensors = [
    ...(await prefixed(C1, '')),
    ...(await prefixed(TEXT.clip_l, 'text_encoders.clip_l.transformer.')),
    ...(await prefixed(TEXT.clip_g, 'text_encoders.clip_g.transformer.')),
    ...(o.t5 === false ? [] : await prefixed(TEXT.t5, 'text_encoders.t5xxl.transformer.')),
    ...(await prefixed(TEXT.vae, 'first_stage_model.')),
  ];
  const file = path.join(dir, o.t5 === false ? 'sd3_incl_clips.safetensors' : 'sd3_incl_clips_t5xxl.safetensors');
  await writeFile(file, encodeSafetensors(tensors));
  return file;
}

/** A diffusers model root: transformer (c3), text_encoder (CLIP-L as model.safetensors), vae, tokenizer. */
export async function writeDiffusersRoot(dir: string, tokenizers: string): Promise<string> {
  const root = path.join(dir, 'diffusers-root');
  await mkdir(path.join(root, 'text_encoder'), { recursive: true });
  await mkdir(path.join(root, 'tokenizer'), { recursive: true });
  await symlink(C3_DIFFUSERS_TRANSFORMER, path.join(root, 'transformer'));
  await symlink(TEXT.vaeDiffusers, path.join(root, 'vae'));
  await symlink(TEXT.clip_l, path.join(root, 'text_encoder', 'model.safetensors'));
  for (const f of ['vocab.json', 'merges.txt']) await writeFile(path.join(root, 'tokenizer', f), await readFile(path.join(tokenizers, 'clip', f)));
  await writeFile(path.join(root, 'model_index.json'), '{"_class_name": "StableDiffusion3Pipeline"}');
  return root;
}
