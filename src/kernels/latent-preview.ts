import latentPreviewWgsl from '../../shaders/latent_preview.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;

/**
 * SD3's published latent→RGB preview factors: ComfyUI, `comfy/latent_formats.py`, class `SD3`,
 * `latent_rgb_factors` (row c = latent channel c's weights for R, G, B) and
 * `latent_rgb_factors_bias`. ComfyUI applies them to the denoiser-space latent (its sampler's x0)
 * and converts with ((v + 1)/2).clamp(0, 1)·255 to uint8, as this kernel does.
 */
export const SD3_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [-0.0922, -0.0175, 0.0749],
  [0.0311, 0.0633, 0.0954],
  [0.1994, 0.0927, 0.0458],
  [0.0856, 0.0339, 0.0902],
  [0.0587, 0.0272, -0.0496],
  [-0.0006, 0.1104, 0.0309],
  [0.0978, 0.0306, 0.0427],
  [-0.0042, 0.1038, 0.1358],
  [-0.0194, 0.002, 0.0669],
  [-0.0488, 0.013, -0.0268],
  [0.0922, 0.0988, 0.0951],
  [-0.0278, 0.0524, -0.0542],
  [0.0332, 0.0456, 0.0895],
  [-0.0069, -0.003, -0.081],
  [-0.0596, -0.0465, -0.0293],
  [-0.1448, -0.1463, -0.1189],
];
export const SD3_LATENT_RGB_BIAS: readonly [number, number, number] = [0.2394, 0.2135, 0.1925];

export interface LatentPreviewArgs {
  readonly batch: number;
  readonly pixels: number;
  readonly channels: number;
}

export const latentPreviewKernel: KernelSpec<LatentPreviewArgs> = {
  name: 'latent_preview',
  sources: kernelSources('latent_preview.wgsl', latentPreviewWgsl),
  bindings: [
    { name: 'latent', access: 'read' },
    { name: 'factors', access: 'read' },
    { name: 'rgba', access: 'write' },
  ],
  params: [['pixels', 'u32'], ['channels', 'u32'], ['batch', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({ params: { pixels: a.pixels, channels: a.channels, batch: a.batch }, workgroups: foldedGrid(Math.ceil((a.batch * a.pixels) / WG)) }),
};

/** The factor table as the kernel reads it: channels·3 factors row-major, then 3 biases. */
export function previewFactorTable(
  factors: readonly (readonly [number, number, number])[] = SD3_LATENT_RGB_FACTORS,
  bias: readonly [number, number, number] = SD3_LATENT_RGB_BIAS,
): Float32Array {
  return Float32Array.from([...factors.flat(), ...bias]);
}

/**
 * A preview of a denoiser-space latent, f32 NCHW `[B, C, h, w]` as the sampler holds it: packed
 * RGBA8 u32 `[B, h·w]` at latent resolution (one pixel per latent position). `factors` is an f32
 * `[C·3 + 3]` value (see `previewFactorTable`, usually a graph constant).
 */
export function latentPreview(b: GraphBuilder, latent: Value, factors: Value, label = 'latent_preview'): Value {
  const [batch, channels, h, w] = latent.shape as [number, number, number, number];
  const pixels = h * w;
  if (latent.shape.length !== 4 || latent.type !== 'f32') throw new InvalidArgumentError(`latent_preview input ${latent.label}`, 'f32 [B, C, h, w]', `${latent.type} ${JSON.stringify(latent.shape)}`);
  if (factors.type !== 'f32' || factors.shape.reduce((p, d) => p * d, 1) !== channels * 3 + 3) {
    throw new InvalidArgumentError('latent_preview factors', `f32 with ${channels * 3 + 3} values`, factors.shape);
  }
  const out = b.temp([batch, pixels], label, 'u32');
  b.dispatch(latentPreviewKernel, { batch, pixels, channels }, [latent, factors, out], label);
  return out;
}
