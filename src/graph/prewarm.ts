import type { PipelineCache } from '../shader/pipeline-cache.js';
import type { GraphBuilder } from './builder.js';

/**
 * Creates every pipeline a recorded graph uses, all at once (`createComputePipelineAsync` in
 * parallel), so that compiling a graph with the same dispatches later finds them in the cache.
 * Recorded on placeholder weights, a plan can do this while the weights are still downloading:
 * compile then costs no wall time of its own.
 */
export async function prewarmPipelines(cache: PipelineCache, graph: GraphBuilder): Promise<number> {
  const kernels = await Promise.all(graph.ops.map((op) => cache.get(op.spec, op.spec.variant(op.args, graph.caps, graph.precision))));
  return new Set(kernels.map((k) => k.key)).size;
}
