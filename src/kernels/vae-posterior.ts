import posteriorWgsl from '../../shaders/vae_posterior.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { checkRowsInView, type ImageRows, viewDims } from './image-rows.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;

export interface PosteriorArgs {
  readonly batch: number;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly row0: number;
  readonly rows: number;
  readonly x: { readonly row0: number; readonly rows: number };
  readonly shift: number;
  readonly scale: number;
  readonly hasNoise: boolean;
}

export const vaePosteriorKernel: KernelSpec<PosteriorArgs> = {
  name: 'vae_posterior',
  sources: kernelSources('vae_posterior.wgsl', posteriorWgsl),
  bindings: [
    { name: 'moments', access: 'read' },
    { name: 'noise', access: 'read' },
    { name: 'mean_out', access: 'readwrite' },
    { name: 'logvar_out', access: 'readwrite' },
    { name: 'latent_out', access: 'readwrite' },
  ],
  params: [
    ['width', 'u32'], ['height', 'u32'], ['channels', 'u32'], ['row0', 'u32'], ['rows', 'u32'],
    ['x_row0', 'u32'], ['x_rows', 'u32'], ['batch', 'u32'], ['shift', 'f32'], ['scale', 'f32'],
  ],
  variant: (a, _caps, precision) => ({ precision, constants: { WG, HAS_NOISE: a.hasNoise ? 1 : 0 } }),
  plan: (a) => ({
    params: {
      width: a.width, height: a.height, channels: a.channels, row0: a.row0, rows: a.rows,
      x_row0: a.x.row0, x_rows: a.x.rows, batch: a.batch, shift: a.shift, scale: a.scale,
    },
    workgroups: foldedGrid(Math.ceil((a.batch * a.rows * a.width * a.channels) / WG)),
  }),
};

export interface PosteriorOutputs {
  readonly mean: Value;
  readonly logvar: Value;
  readonly latent: Value;
}

/**
 * The encoder's posterior for rows [row0, row0 + rows) of the moments view `[B, ·, 2C]`, written
 * into whole f32 NCHW `[B, C, height, width]` outputs (the sampler's latent layout): mean, clamped
 * logvar, and the denoiser-space latent `(sample − shift)·scale` with sample = mean +
 * exp(½·logvar)·noise (noise: f32 NCHW as well, or the mean without it).
 */
export function vaePosterior(
  b: GraphBuilder,
  moments: ImageRows,
  out: PosteriorOutputs,
  o: { width: number; height: number; row0: number; rows: number; shift: number; scale: number; noise?: Value | null; label?: string },
): void {
  const { batch, channels: twice } = viewDims(moments, o.width, `posterior input ${moments.value.label}`);
  const channels = twice / 2;
  if (!Number.isInteger(channels)) throw new InvalidArgumentError('posterior moments channels', 'an even number', twice);
  checkRowsInView(moments, o.row0, o.rows, `posterior input ${moments.value.label}`);
  for (const v of [out.mean, out.logvar, out.latent, ...(o.noise ? [o.noise] : [])]) {
    const [vb, vc, vh, vw] = v.shape as [number, number, number, number];
    if (v.type !== 'f32' || v.shape.length !== 4 || vb !== batch || vc !== channels || vh !== o.height || vw !== o.width) {
      throw new InvalidArgumentError(`posterior operand ${v.label}`, `f32 [${batch}, ${channels}, ${o.height}, ${o.width}]`, `${v.type} ${JSON.stringify(v.shape)}`);
    }
  }
  const args: PosteriorArgs = {
    batch, width: o.width, height: o.height, channels, row0: o.row0, rows: o.rows,
    x: { row0: moments.row0, rows: moments.rows }, shift: o.shift, scale: o.scale, hasNoise: Boolean(o.noise),
  };
  b.dispatch(vaePosteriorKernel, args, [moments.value, o.noise ?? null, out.mean, out.logvar, out.latent], o.label ?? 'vae_posterior');
}
