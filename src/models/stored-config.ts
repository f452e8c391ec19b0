import type { ClipOverrides } from './clip/config.js';
import type { T5Overrides } from './t5/index.js';
import type { VaeOverrides } from './vae/config.js';
import type { JsonValue } from '../weights/manifest.js';

/**
 * What a converted manifest's component `config` records beyond tensor shapes (head counts of
 * non-release widths, eps, activation, pooling rule, latent scale and shift), as the loaders'
 * overrides. Used when a converted model is loaded (pipeline) or converted again (convert).
 */

export type StoredConfig = { readonly [key: string]: JsonValue } | undefined;

export function clipOverrides(stored: StoredConfig): ClipOverrides {
  const heads = stored?.['heads'];
  const eps = stored?.['eps'];
  const activation = stored?.['activation'];
  const projectPooled = stored?.['projectPooled'];
  return {
    ...(typeof heads === 'number' ? { heads } : {}),
    ...(typeof eps === 'number' ? { eps } : {}),
    ...(activation === 'quick_gelu' || activation === 'gelu_erf' ? { activation } : {}),
    ...(typeof projectPooled === 'boolean' ? { projectPooled } : {}),
  };
}

export function vaeOverrides(stored: StoredConfig): VaeOverrides {
  const out: { -readonly [K in keyof VaeOverrides]: number } = {};
  for (const key of ['groups', 'eps', 'scale', 'shift'] as const) {
    const v = stored?.[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

export function t5Overrides(stored: StoredConfig): T5Overrides {
  const maxDistance = stored?.['maxDistance'];
  const eps = stored?.['eps'];
  return { ...(typeof maxDistance === 'number' ? { maxDistance } : {}), ...(typeof eps === 'number' ? { eps } : {}) };
}
