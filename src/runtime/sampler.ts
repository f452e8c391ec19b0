import { InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { emitEulerUpdate, emitNoiseScaling } from '../sampling/euler.js';
import { gaussianNoise } from '../sampling/noise.js';
import { MAX_STEPS } from '../models/mmdit/shape.js';
import { DEFAULT_SHIFT, denoiseSigmas, sd3Sigmas } from '../sampling/schedule.js';
import { assertFinite } from '../tensor/finite.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { DenoiserGraph } from './denoiser-graph.js';
import { latentCheckGraph, recordLatentCheck } from './finite-check.js';

export interface SampleOptions {
  readonly steps: number;
  /** CFG scale; exactly 1 needs no uncond half (compile the graph with `cfg: false`). */
  readonly guidanceScale: number;
  /** Schedule shift (default 3.0). */
  readonly shift?: number;
  /** Seed of the built-in Philox noise (noise.ts); default 0. Ignored when `noise` is given. */
  readonly seed?: number;
  /** Initial noise, NCHW f32 `[batch, C, Hl, Wl]`; wins over `seed`. */
  readonly noise?: Float32Array;
  /** An explicit schedule of `steps + 1` sigmas (wins over `shift`). */
  readonly sigmas?: Float64Array;
  /** Image-to-image strength in (0, 1]: drops the first trunc(steps·(1 − denoise)) sigmas. */
  readonly denoise?: number;
  /** Image-to-image start latent (SD3 latent format, NCHW f32 on the GPU). */
  readonly initLatent?: GpuTensor;
  readonly signal?: AbortSignal;
  /** Called when step i has finished on the GPU (i = 0…steps−1). */
  readonly onStep?: (i: number) => void;
  /**
   * Debugging and verification: awaited after step i finished and before step i+1 is submitted,
   * so the latent can be read; serialises the loop (one step in flight).
   */
  readonly inspect?: (i: number, latent: GpuTensor) => Promise<void>;
}

const running = new WeakSet<DenoiserGraph>();

/**
 * The update graph for one guidance scale, bound to the denoiser graph's latent, velocity and
 * sigmas and reading its step state (one writeBuffer per step serves both). Cached in the
 * runtime's graph cache, disposed with the denoiser graph.
 */
export function eulerGraph(graph: DenoiserGraph, guidance: number): Promise<CompiledGraph> {
  const rt = graph.runtime;
  const key = `euler|${denoiserGraphId(graph)}|${guidance}`;
  return rt.graphs.get(graph.owner, key, () => {
    const b = new GraphBuilder(rt.ctx.caps, 'f32');
    emitEulerUpdate(b, { latent: graph.inputs.latent, velocity: graph.output, sigmas: graph.inputs.sigmas }, { cfg: graph.shape.cfg, guidance });
    return compileGraph(rt.ctx, rt.pipelines, b, { stepBuffer: graph.stepBuffer });
  }, { dependsOn: [graph] });
}

/** The image-to-image start for one init latent (compiled per call: it binds the caller's tensor). */
function noiseScalingGraph(graph: DenoiserGraph, init: GpuTensor): Promise<CompiledGraph> {
  const rt = graph.runtime;
  const b = new GraphBuilder(rt.ctx.caps, 'f32');
  emitNoiseScaling(b, { latent: graph.inputs.latent, sigmas: graph.inputs.sigmas }, init);
  return compileGraph(rt.ctx, rt.pipelines, b, { stepBuffer: graph.stepBuffer });
}

const graphIds = new WeakMap<DenoiserGraph, number>();
let nextGraphId = 0;

/** A stable id per denoiser graph (cache keys of graphs bound to it). */
export function denoiserGraphId(graph: DenoiserGraph): number {
  let id = graphIds.get(graph);
  if (id === undefined) {
    id = nextGraphId++;
    graphIds.set(graph, id);
  }
  return id;
}

/**
 * Rectified-flow Euler sampling with classifier-free guidance (MODEL_SPEC §4) on a compiled
 * denoiser graph whose context and pooled inputs the caller has filled (cond rows, then uncond
 * rows under CFG). Returns the graph's latent tensor, which holds the result until the next call.
 * Per step: one command encoder, one compute pass (forward + update), one submit, no readback, no
 * allocation; at most two steps in flight. An aborted signal is honoured between steps: submitted
 * work is awaited (buffers quiescent, the graph stays usable), no step is reported after the abort
 * is seen, and the signal's reason is thrown.
 */
export async function sample(graph: DenoiserGraph, o: SampleOptions): Promise<GpuTensor> {
  graph.assertLive();
  o.signal?.throwIfAborted();
  const sigmas = scheduleOf(o);
  const guidance = o.guidanceScale;
  if (typeof guidance !== 'number' || !Number.isFinite(guidance) || guidance < 0) throw new InvalidArgumentError('guidanceScale', 'a finite number ≥ 0', guidance);
  if (!graph.shape.cfg && guidance !== 1) {
    throw new InvalidArgumentError('guidanceScale', '1 for a graph compiled without cfg (compile with cfg: true for guidance ≠ 1)', guidance);
  }
  const latent = graph.inputs.latent;
  const n = elementCount(latent.shape);
  if (o.noise !== undefined && (!(o.noise instanceof Float32Array) || o.noise.length !== n)) {
    throw new InvalidArgumentError('noise', `a Float32Array of ${n} values ${JSON.stringify(latent.shape)}`, o.noise instanceof Float32Array ? `${o.noise.length} values` : typeof o.noise);
  }
  if (o.noise !== undefined) assertFinite('noise', o.noise);
  if (o.initLatent && (o.initLatent.format !== 'f32' || elementCount(o.initLatent.shape) !== n)) {
    throw new InvalidArgumentError('initLatent', `an f32 tensor of shape ${JSON.stringify(latent.shape)}`, `${o.initLatent.format} ${JSON.stringify(o.initLatent.shape)}`);
  }
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) {
    throw new InvalidArgumentError('seed', 'an integer in [0, 2^32 − 1]', o.seed);
  }
  if (o.denoise !== undefined && o.denoise < 1 && !o.initLatent) throw new InvalidArgumentError('initLatent', 'a latent when denoise < 1', 'none');
  if (running.has(graph)) throw new InvalidArgumentError('graph', 'a graph not already sampling (one sample() per graph at a time)', 'busy');
  const steps = sigmas.length - 1;
  const ctx = graph.runtime.ctx;
  const queue = ctx.device.queue;
  running.add(graph);
  const unpin = graph.runtime.graphs.pin(graph);
  let start: CompiledGraph | null = null;
  try {
    const update = await eulerGraph(graph, guidance);
    const check = await latentCheckGraph(graph, denoiserGraphId);
    start = o.initLatent ? await noiseScalingGraph(graph, o.initLatent) : null;
    graph.writeSigmas(sigmas);
    graph.writeLatent(o.noise ?? gaussianNoise(o.seed ?? 0, latent.shape[0] as number, n / (latent.shape[0] as number)));
    if (start) {
      start.run(0);
      await queue.onSubmittedWorkDone();
    }
    // An abort is honoured between steps: what was submitted is awaited (buffers quiescent, the
    // graph usable), no step is reported once the abort is seen, and its reason is thrown.
    const stop = async (): Promise<void> => {
      await queue.onSubmittedWorkDone();
      o.signal?.throwIfAborted();
    };
    let previous: Promise<undefined> | null = null;
    for (let i = 0; i < steps; i++) {
      if (o.signal?.aborted) await stop();
      graph.assertLive();
      const encoder = ctx.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      graph.encodeStep(i, pass);
      update.encode(pass);
      // The non-finite check of the result rides in the last step's pass: no submit of its own.
      if (i === steps - 1) check.encode(pass);
      pass.end();
      queue.submit([encoder.finish()]);
      const done = queue.onSubmittedWorkDone();
      if (o.inspect) {
        await done;
        o.onStep?.(i);
        await o.inspect(i, latent);
        continue;
      }
      if (previous) {
        await previous;
        // An abort that landed while step i − 1 ran: step i, in flight, is awaited, not reported.
        if (o.signal?.aborted) await stop();
        o.onStep?.(i - 1);
      }
      previous = done;
    }
    if (previous) {
      await previous;
      if (o.signal?.aborted) await stop();
      o.onStep?.(steps - 1);
    }
    ctx.assertUsable();
    recordLatentCheck(graph, check.output('flag'), steps - 1);
    return latent;
  } finally {
    running.delete(graph);
    unpin();
    start?.dispose();
  }
}

function scheduleOf(o: SampleOptions): Float64Array {
  const steps = o.steps;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) throw new InvalidArgumentError('steps', `an integer in 1…${MAX_STEPS}`, steps);
  let sigmas: Float64Array;
  if (o.sigmas !== undefined) {
    if (!(o.sigmas instanceof Float64Array) || o.sigmas.length !== steps + 1) {
      throw new InvalidArgumentError('sigmas', `a Float64Array of steps + 1 = ${steps + 1} values`, o.sigmas instanceof Float64Array ? `${o.sigmas.length} values` : typeof o.sigmas);
    }
    sigmas = o.sigmas;
  } else {
    sigmas = sd3Sigmas(steps, o.shift ?? DEFAULT_SHIFT);
  }
  return o.denoise === undefined ? sigmas : denoiseSigmas(sigmas, o.denoise);
}
