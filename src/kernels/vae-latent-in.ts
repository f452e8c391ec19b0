import latentInWgsl from '../../shaders/vae_latent_in.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;

export interface VaeLatentInArgs {
  readonly total: number;
  readonly pixels: number;
  readonly channels: number;
  readonly scale: number;
  readonly shift: number;
}

export const vaeLatentInKernel: KernelSpec<VaeLatentInArgs> = {
  name: 'vae_latent_in',
  sources: kernelSources('vae_latent_in.wgsl', latentInWgsl),
  bindings: [
    { name: 'latent', access: 'read' },
    { name: 'z', access: 'write' },
  ],
  params: [['pixels', 'u32'], ['channels', 'u32'], ['total', 'u32'], ['scale', 'f32'], ['shift', 'f32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { pixels: a.pixels, channels: a.channels, total: a.total, scale: a.scale, shift: a.shift },
    workgroups: foldedGrid(Math.ceil(a.total / WG)),
  }),
};

/**
 * process_out of a denoiser-space latent, f32 NCHW `[B, C, h, w]` (the sampler's layout): the
 * decoder's NHWC input `z = l/scale + shift`, `[B, h·w, C]`.
 */
export function vaeLatentIn(b: GraphBuilder, latent: Value, o: { scale: number; shift: number; label?: string }): Value {
  const [batch, channels, h, w] = latent.shape as [number, number, number, number];
  if (latent.shape.length !== 4 || latent.type !== 'f32') throw new InvalidArgumentError(`VAE latent ${latent.label}`, 'f32 [B, C, h, w]', `${latent.type} ${JSON.stringify(latent.shape)}`);
  const z = b.temp([batch, h * w, channels], o.label ?? 'z');
  b.dispatch(vaeLatentInKernel, { total: batch * h * w * channels, pixels: h * w, channels, scale: o.scale, shift: o.shift }, [latent, z], o.label ?? 'z');
  return z;
}
