import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { eulerStep, noiseScaling } from '../kernels/euler-cfg.js';
import type { DenoiserGraph } from '../models/mmdit/index.js';
import type { GpuTensor } from '../tensor/tensor.js';

/**
 * The sampler's GPU update as a small graph of its own, bound to a denoiser graph's latent,
 * velocity and sigmas: encoded after the forward in the same pass, once per step. Guidance 1
 * graphs (compiled without CFG) use the velocity as is.
 */
export function eulerGraph(graph: DenoiserGraph, guidance: number): Promise<CompiledGraph> {
  return graph.eulerGraph(guidance, () => {
    const b = new GraphBuilder(graph.gpu.caps, 'f32');
    eulerStep(b, { latent: graph.inputs.latent, velocity: graph.output, sigmas: graph.inputs.sigmas, cfg: graph.shape.cfg, guidance });
    // The update reads the forward's step state: one writeBuffer per step serves both.
    return compileGraph(graph.gpu, graph.cache, b, { stepBuffer: graph.stepBuffer });
  });
}

/** `latent = σ[0]·latent + (1 − σ[0])·init` (image-to-image start; the latent holds the noise). */
export function noiseScalingGraph(graph: DenoiserGraph, init: GpuTensor): Promise<CompiledGraph> {
  const b = new GraphBuilder(graph.gpu.caps, 'f32');
  noiseScaling(b, { latent: graph.inputs.latent, init, sigmas: graph.inputs.sigmas });
  return compileGraph(graph.gpu, graph.cache, b, { stepBuffer: graph.stepBuffer });
}
