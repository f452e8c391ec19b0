import eulerCfgWgsl from '../../shaders/euler_cfg.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand } from '../graph/builder.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export interface EulerCfgArgs {
  readonly n: number;
  readonly cfg: boolean;
  readonly start: boolean;
  readonly guidance: number;
}

const WG = 64;

export const eulerCfgKernel: KernelSpec<EulerCfgArgs> = {
  name: 'euler_cfg',
  sources: kernelSources('euler_cfg.wgsl', eulerCfgWgsl),
  bindings: [
    { name: 'v', access: 'read' },
    { name: 'sigmas', access: 'read' },
    { name: 'step', access: 'read' },
    { name: 'x', access: 'readwrite' },
  ],
  params: [['n', 'u32'], ['guidance', 'f32']],
  variant: (a, _caps, precision) => ({ precision, constants: { WG, CFG: a.cfg ? 1 : 0, START: a.start ? 1 : 0 } }),
  plan: (a) => ({ params: { n: a.n, guidance: a.guidance }, workgroups: foldedGrid(Math.ceil(a.n / WG)) }),
};

type F32Operand = Exclude<Operand, null>;

/**
 * One Euler step with classifier-free guidance, in place on the f32 latent `x [B, C, H, W]`:
 * `x += (σ[step+1] − σ[step]) · (v_u + guidance·(v_c − v_u))`, velocity `[2B, …]` with cond rows
 * first; without `cfg` the velocity is `[B, …]` and used as is. `step` is the graph's step state.
 */
export function eulerStep(
  b: GraphBuilder,
  o: { readonly latent: GpuTensor; readonly velocity: F32Operand; readonly sigmas: F32Operand; readonly cfg: boolean; readonly guidance: number; readonly label?: string },
): void {
  const n = elementCount(o.latent.shape);
  const vn = elementCount(o.velocity.shape);
  if (vn !== n * (o.cfg ? 2 : 1)) {
    throw new InvalidArgumentError('eulerStep velocity', `${o.cfg ? 2 : 1}× the latent's ${n} elements`, vn);
  }
  if (!Number.isFinite(o.guidance)) throw new InvalidArgumentError('guidanceScale', 'a finite number', o.guidance);
  b.dispatch(eulerCfgKernel, { n, cfg: o.cfg, start: false, guidance: o.guidance }, [o.velocity, o.sigmas, b.stepState(), o.latent], o.label ?? 'euler_cfg');
}

/**
 * The start of image-to-image sampling (the reference's noise scaling), in place: the latent holds
 * the noise and becomes `σ[step]·noise + (1 − σ[step])·init`.
 */
export function noiseScaling(b: GraphBuilder, o: { readonly latent: GpuTensor; readonly init: F32Operand; readonly sigmas: F32Operand; readonly label?: string }): void {
  const n = elementCount(o.latent.shape);
  if (elementCount(o.init.shape) !== n) throw new InvalidArgumentError('initLatent shape', JSON.stringify(o.latent.shape), o.init.shape);
  b.dispatch(eulerCfgKernel, { n, cfg: false, start: true, guidance: 0 }, [o.init, o.sigmas, b.stepState(), o.latent], o.label ?? 'noise_scaling');
}
