import path from 'node:path';
import { fileSource } from '../../../../src/node/file-source.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import type { TensorInfo, TensorSource } from '../../../../src/weights/tensor-source.js';

export const SHARED = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');
export const VAE_DIR = path.join(SHARED, 'vectors/text_vae/vae');

/** The public reduced SD3 VAE (reference layout, F16): block_out_channels [32, 32, 64, 64]. */
export async function referenceVae(): Promise<TensorSource> {
  return openSafetensors(await fileSource(path.join(VAE_DIR, 'weights.safetensors')));
}

/** The same decoder in diffusers' AutoencoderKL layout. */
export async function diffusersVae(): Promise<TensorSource> {
  return openSafetensors(await fileSource(path.join(VAE_DIR, 'diffusers/vae/diffusion_pytorch_model.safetensors')));
}

/**
 * A view of `source` with tensors renamed (`rename` returns null to drop one), replaced infos,
 * and extra in-memory tensors.
 */
export function editedSource(
  source: TensorSource,
  o: { rename?: (name: string) => string | null; info?: (info: TensorInfo) => TensorInfo; extra?: ReadonlyMap<string, { info: TensorInfo; bytes: Uint8Array }> } = {},
): TensorSource {
  const back = new Map<string, string>();
  const tensors = new Map<string, TensorInfo>();
  for (const [name, info] of source.tensors) {
    const renamed = o.rename ? o.rename(name) : name;
    if (renamed === null) continue;
    back.set(renamed, name);
    const edited = { ...info, name: renamed };
    tensors.set(renamed, o.info ? o.info(edited) : edited);
  }
  for (const [name, t] of o.extra ?? []) tensors.set(name, t.info);
  return {
    origin: `${source.origin} (edited)`,
    tensors,
    async read(name, signal) {
      const extra = o.extra?.get(name);
      if (extra) return extra.bytes;
      return source.read(back.get(name) ?? name, signal);
    },
  };
}
