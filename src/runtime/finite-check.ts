import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { NON_FINITE_WORDS, nonFiniteCheck, throwIfNonFinite } from '../kernels/nonfinite.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { DenoiserGraph } from './denoiser-graph.js';

/**
 * The non-finite guard of the sampled latent: a one-workgroup reduction encoded into the pass of
 * the last sampling step (no extra submit, nothing per step) writes 3 words — count, first bad
 * index, its bits — that travel back with whatever reads the result (`readSampledLatent` here;
 * the pipeline copies them next to its image). A NaN or Inf then raises NonFiniteError instead
 * of decoding to a black image.
 */

/** The check graph bound to a denoiser graph's latent (cached, disposed with it). */
export function latentCheckGraph(graph: DenoiserGraph, idOf: (g: DenoiserGraph) => number): Promise<CompiledGraph> {
  const rt = graph.runtime;
  return rt.graphs.get(graph.owner, `latent-check|${idOf(graph)}`, () => {
    const b = new GraphBuilder(rt.ctx.caps, 'f32');
    b.output('flag', nonFiniteCheck(b, graph.inputs.latent, 'latent_check'));
    return compileGraph(rt.ctx, rt.pipelines, b, { stepBuffer: graph.stepBuffer });
  }, { dependsOn: [graph] });
}

const lastCheck = new WeakMap<DenoiserGraph, { readonly flag: GpuTensor; readonly lastStep: number }>();

/** @internal The sampler records the flag its last run wrote. */
export function recordLatentCheck(graph: DenoiserGraph, flag: GpuTensor, lastStep: number): void {
  lastCheck.set(graph, { flag, lastStep });
}

/** The 3-word flag of the graph's last sampling run (null before one). */
export function latentCheckOf(graph: DenoiserGraph): GpuTensor | null {
  return lastCheck.get(graph)?.flag ?? null;
}

/** The check of a sampled latent, to be read back with whatever is read next (the pictures). */
export interface LatentGuard {
  readonly flag: GpuTensor;
  /** Raises NonFiniteError when the check's words report NaN or Inf. */
  judge(words: Uint32Array): void;
}

/** The guard of the graph's last sampling run (undefined before one). */
export function latentGuard(graph: DenoiserGraph): LatentGuard | undefined {
  const check = lastCheck.get(graph);
  if (!check) return undefined;
  return { flag: check.flag, judge: (words) => throwIfNonFinite(words, 'latent', 'sampling', check.lastStep) };
}

/**
 * Reads the sampled latent and its check in one readback; NaN or Inf in it raises
 * NonFiniteError (phase "sampling", tensor "latent", the first bad index, the last step, after
 * which it was checked).
 */
export async function readSampledLatent(graph: DenoiserGraph): Promise<Float32Array> {
  const latent = graph.inputs.latent;
  const bytes = elementCount(latent.shape) * 4;
  const check = lastCheck.get(graph);
  if (!check) return new Float32Array(await graph.gpu.read(latent.buffer, latent.offset, bytes));
  const [values, flag] = await graph.gpu.readMany([
    { buffer: latent.buffer, offset: latent.offset, size: bytes },
    { buffer: check.flag.buffer, offset: check.flag.offset, size: NON_FINITE_WORDS * 4 },
  ]);
  throwIfNonFinite(new Uint32Array(flag as ArrayBuffer), 'latent', 'sampling', check.lastStep);
  return new Float32Array(values as ArrayBuffer);
}
