import patchEmbedWgsl from '../../shaders/patch_embed.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { FORMAT_CODE, type GpuTensor, type StorageFormat } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export interface PatchEmbedArgs {
  readonly batch: number;
  readonly batchIn: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly patch: number;
  readonly hidden: number;
  readonly format: StorageFormat;
  readonly posFormat: StorageFormat;
  readonly hasBias: boolean;
}

const WG = 64;
const TN = 4;

export const patchEmbedKernel: KernelSpec<PatchEmbedArgs> = {
  name: 'patch_embed',
  sources: kernelSources('patch_embed.wgsl', patchEmbedWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'w', access: 'read' },
    { name: 'scales', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'pos', access: 'read' },
    { name: 'y', access: 'write' },
  ],
  params: [['batch', 'u32'], ['batch_in', 'u32'], ['channels', 'u32'], ['height', 'u32'], ['width', 'u32'], ['patch_size', 'u32'], ['hidden', 'u32']],
  variant: (a, _caps, precision) => ({
    precision,
    constants: { WG, W_FORMAT: FORMAT_CODE[a.format], POS_FORMAT: FORMAT_CODE[a.posFormat], HAS_BIAS: a.hasBias ? 1 : 0 },
  }),
  plan: (a) => ({
    params: {
      batch: a.batch, batch_in: a.batchIn, channels: a.channels, height: a.height, width: a.width,
      patch_size: a.patch, hidden: a.hidden,
    },
    workgroups: foldedGrid(Math.ceil((a.batch * (a.height / a.patch) * (a.width / a.patch) * Math.ceil(a.hidden / TN)) / WG)),
  }),
};

export interface PatchEmbedOptions {
  /** The stride-p conv weight `[H, C, p, p]` (any storage format). */
  readonly weight: GpuTensor;
  readonly bias?: GpuTensor | null;
  /** Position rows already cropped to the token grid, `[N, H]` (f32, f16 or bf16). */
  readonly pos: GpuTensor;
  /** Output batch; the latent's batch must divide it (item b reads latent b mod batch_in). */
  readonly batch: number;
  readonly label?: string;
}

/**
 * Patchify an NCHW f32 latent `[batch_in, C, Hl, Wl]` with a stride-p conv, add the bias and the
 * cropped position table: `[batch, (Hl/p)·(Wl/p), H]` in the activation type, tokens row-major.
 */
export function patchEmbed(b: GraphBuilder, latent: Value, o: PatchEmbedOptions): Value {
  const [batchIn, channels, height, width] = latent.shape as [number, number, number, number];
  if (latent.shape.length !== 4) throw new InvalidArgumentError(`${latent.label} shape`, '[B, C, H, W]', latent.shape);
  const w = o.weight;
  const [hidden, wc, p, p2] = w.shape as [number, number, number, number];
  if (w.shape.length !== 4 || p !== p2 || wc !== channels) {
    throw new CheckpointError(w.label, 'patch embedding weight does not match the latent', `[H, ${channels}, p, p]`, JSON.stringify(w.shape));
  }
  if (height % p !== 0 || width % p !== 0) {
    throw new InvalidArgumentError(`${latent.label} height/width`, `multiples of the patch size ${p}`, [height, width]);
  }
  if (o.batch % batchIn !== 0) throw new InvalidArgumentError('patchEmbed batch', `a multiple of the latent batch ${batchIn}`, o.batch);
  const tokens = (height / p) * (width / p);
  if (o.pos.shape.length !== 2 || o.pos.shape[0] !== tokens || o.pos.shape[1] !== hidden) {
    throw new InvalidArgumentError(`${o.pos.label} shape`, `[${tokens}, ${hidden}]`, o.pos.shape);
  }
  if (!['f32', 'f16', 'bf16'].includes(o.pos.format)) throw new InvalidArgumentError(`${o.pos.label} format`, 'f32, f16 or bf16', o.pos.format);
  const k = channels * p * p;
  const need = { f32: 1, f16: 2, bf16: 2, q8: 4, q4: 32 }[w.format];
  if (k % need !== 0) throw new CheckpointError(w.label, `format ${w.format} needs C·p·p % ${need} == 0`, `multiple of ${need}`, String(k));
  const out = b.temp([o.batch, tokens, hidden], o.label ?? 'x_embed');
  const args: PatchEmbedArgs = {
    batch: o.batch, batchIn, channels, height, width, patch: p, hidden,
    format: w.format, posFormat: o.pos.format, hasBias: Boolean(o.bias),
  };
  b.dispatch(patchEmbedKernel, args, [latent, w, w.scales ?? null, o.bias ?? null, o.pos, out], o.label ?? 'patch_embed');
  return out;
}
