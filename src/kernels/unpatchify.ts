import unpatchifyWgsl from '../../shaders/unpatchify.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export interface UnpatchifyArgs {
  readonly batch: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly patch: number;
}

const WG = 64;

export const unpatchifyKernel: KernelSpec<UnpatchifyArgs> = {
  name: 'unpatchify',
  sources: kernelSources('unpatchify.wgsl', unpatchifyWgsl),
  bindings: [
    { name: 'z', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['batch', 'u32'], ['channels', 'u32'], ['height', 'u32'], ['width', 'u32'], ['patch_size', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { batch: a.batch, channels: a.channels, height: a.height, width: a.width, patch_size: a.patch },
    workgroups: foldedGrid(Math.ceil((a.batch * a.channels * a.height * a.width) / WG)),
  }),
};

/**
 * `z [B, (H/p)·(W/p), p·p·C]` (token-major patches, channel fastest) → NCHW f32 `[B, C, H, W]`,
 * written into `into` when given (e.g. a graph output).
 */
export function unpatchify(
  b: GraphBuilder,
  z: Value,
  o: { readonly channels: number; readonly height: number; readonly width: number; readonly patch: number; readonly into?: Value; readonly label?: string },
): Value {
  const { channels, height, width, patch } = o;
  const batch = z.shape[0] as number;
  const tokens = (height / patch) * (width / patch);
  if (height % patch !== 0 || width % patch !== 0 || z.shape.length !== 3 || z.shape[1] !== tokens || z.shape[2] !== patch * patch * channels) {
    throw new InvalidArgumentError(`${z.label} shape`, `[B, ${tokens}, ${patch * patch * channels}] for ${height}×${width}, patch ${patch}`, z.shape);
  }
  const out = o.into ?? b.temp([batch, channels, height, width], o.label ?? 'unpatchify', 'f32');
  if (out.type !== 'f32' || out.shape.join() !== [batch, channels, height, width].join()) {
    throw new InvalidArgumentError(`${out.label}`, `an f32 [${batch}, ${channels}, ${height}, ${width}] value`, out.shape);
  }
  b.dispatch(unpatchifyKernel, { batch, channels, height, width, patch }, [z, out], o.label ?? 'unpatchify');
  return out;
}
