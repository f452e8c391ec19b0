import type { GraphBuilder } from '../graph/builder.js';
import { eulerStep, noiseScaling } from '../kernels/euler-cfg.js';
import type { GpuTensor } from '../tensor/tensor.js';

/**
 * The sampler's GPU work as graph emission (MODEL_SPEC §4); the runtime compiles it bound to a
 * denoiser graph's buffers and encodes it after the forward, in the same pass, once per step.
 */

/** The denoiser graph buffers the update reads and writes. */
export interface EulerBuffers {
  /** f32 NCHW latent, updated in place. */
  readonly latent: GpuTensor;
  /** The forward's velocity `[forward batch, C, h, w]`. */
  readonly velocity: GpuTensor;
  /** f32 sigmas `[MAX_STEPS + 1]`, read at the step state's index. */
  readonly sigmas: GpuTensor;
}

/**
 * `x += (σ[i+1] − σ[i]) · (v_u + w·(v_c − v_u))`; without CFG (guidance 1 graphs) the velocity is
 * used as is. Graphs carrying it read the step state shared with the forward.
 */
export function emitEulerUpdate(b: GraphBuilder, io: EulerBuffers, o: { readonly cfg: boolean; readonly guidance: number }): void {
  eulerStep(b, { latent: io.latent, velocity: io.velocity, sigmas: io.sigmas, cfg: o.cfg, guidance: o.guidance });
}

/** `latent = σ[0]·latent + (1 − σ[0])·init`: the image-to-image start (the latent holds the noise). */
export function emitNoiseScaling(b: GraphBuilder, io: Pick<EulerBuffers, 'latent' | 'sigmas'>, init: GpuTensor): void {
  noiseScaling(b, { latent: io.latent, init, sigmas: io.sigmas });
}
