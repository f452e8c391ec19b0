import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, DisposedError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import type { MmditConfig } from '../models/mmdit/config.js';
import { MMDIT_IO, mmditForward } from '../models/mmdit/forward.js';
import { type DenoiserShape, MAX_STEPS } from '../models/mmdit/shape.js';
import { TIMESTEP_SCALE, timestepFeatures } from '../sampling/schedule.js';
import type { Precision } from '../shader/contract.js';
import { assertFinite, assertSchedule } from '../tensor/finite.js';
import { elementCount, type GpuTensor, storageBytes } from '../tensor/tensor.js';
import { encodeF16 } from '../weights/decode.js';
import type { CachedGraph } from './graph-cache.js';
import type { Runtime } from './runtime.js';

/**
 * The denoiser compiled for one shape. Inputs are GPU tensors in the checkpoint's layout
 * (latent NCHW `[batch, C, Hl, Wl]` f32; context `[B, L, D]`, pooled `[B, A]` with B the forward
 * batch), `sigmas` f32 `[MAX_STEPS + 1]` and the timestep-feature table `[MAX_STEPS, B, 256]`;
 * `output` is the velocity f32 `[B, C, Hl, Wl]`. `forward(step)` encodes and submits one forward
 * that uses row `step` of the timestep table; nothing is allocated or read back.
 */
export class DenoiserGraph implements CachedGraph {
  private disposed = false;
  private readonly stepScratch: Float64Array;

  private constructor(
    /** The runtime it runs on (its graph cache also holds the sampler's and conditioning's graphs bound to it). */
    readonly runtime: Runtime,
    /** The component that compiled it: the graph-cache owner of graphs bound to this one. */
    readonly owner: object,
    readonly config: MmditConfig,
    readonly precision: Precision,
    readonly shape: DenoiserShape,
    private readonly graph: CompiledGraph,
    readonly inputs: { readonly latent: GpuTensor; readonly context: GpuTensor; readonly pooled: GpuTensor; readonly sigmas: GpuTensor; readonly timesteps: GpuTensor },
    readonly output: GpuTensor,
    private readonly owned: readonly GPUBuffer[],
  ) {
    this.stepScratch = new Float64Array(this.forwardBatch * config.frequencyDim);
  }

  static async create(
    rt: Runtime,
    owner: object,
    weights: ReadonlyMap<string, GpuTensor>,
    config: MmditConfig,
    precision: Precision,
    shape: DenoiserShape,
  ): Promise<DenoiserGraph> {
    const ctx = rt.ctx;
    const forwardBatch = shape.cfg ? 2 * shape.batch : shape.batch;
    const owned: GPUBuffer[] = [];
    try {
      const pos = cropPositions(ctx, weights.get('pos_embed') as GpuTensor, config, shape);
      owned.push(pos.buffer);
      const b = new GraphBuilder(ctx.caps, precision, shape.taps === true);
      mmditForward(b, weights, config, {
        batch: forwardBatch,
        latentBatch: shape.batch,
        latentHeight: shape.latentHeight,
        latentWidth: shape.latentWidth,
        contextLength: shape.contextLength,
        ...(shape.lastContextRowCount !== undefined ? { lastContextRowCount: shape.lastContextRowCount } : {}),
        steps: MAX_STEPS,
      }, pos);
      const sigmasBuffer = ctx.createBuffer('sigmas', (MAX_STEPS + 1) * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
      owned.push(sigmasBuffer);
      const graph = await compileGraph(ctx, rt.pipelines, b);
      const inputs = {
        latent: graph.input(MMDIT_IO.latent),
        context: graph.input(MMDIT_IO.context),
        pooled: graph.input(MMDIT_IO.pooled),
        timesteps: graph.input(MMDIT_IO.timesteps),
        sigmas: { buffer: sigmasBuffer, offset: 0, shape: [MAX_STEPS + 1], format: 'f32', label: 'sigmas' } satisfies GpuTensor,
      };
      return new DenoiserGraph(rt, owner, config, precision, shape, graph, inputs, graph.output(MMDIT_IO.velocity), owned);
    } catch (error) {
      for (const buffer of owned) ctx.destroyBuffer(buffer);
      throw error;
    }
  }

  private get ctx(): GpuContext {
    return this.runtime.ctx;
  }

  /** GPU bytes this graph owns (what the graph cache's budget counts). */
  get bytes(): number {
    return this.graph.bytes + this.owned.reduce((n, b) => n + b.size, 0);
  }

  /** Rows of the forward batch: 2·batch with CFG. */
  get forwardBatch(): number {
    return this.shape.cfg ? 2 * this.shape.batch : this.shape.batch;
  }

  /** @internal The compiled forward, for profilers (per-dispatch timings). */
  get compiled(): CompiledGraph {
    return this.graph;
  }

  /** Per-layer intermediates (when compiled with `taps`), by MODEL_SPEC §7 names. */
  get taps(): ReadonlyMap<string, GpuTensor> {
    return this.graph.taps;
  }

  /** Writes the NCHW f32 latent `[batch, C, Hl, Wl]`. */
  writeLatent(data: Float32Array): void {
    this.write('latent', this.inputs.latent, data, false);
  }

  /** Writes the context `[B, L, D]` (B = forward batch: cond rows, then uncond rows under CFG). */
  writeContext(data: Float32Array): void {
    this.write('context', this.inputs.context, data, true);
  }

  /** Writes the pooled vectors `[B, A]`. */
  writePooled(data: Float32Array): void {
    this.write('pooled', this.inputs.pooled, data, true);
  }

  /**
   * Sets the model timestep t (= 1000·σ) of `step`: one value for every row, or one per forward
   * row. Features are computed in float64 on the CPU (MODEL_SPEC §3.3).
   */
  writeTimesteps(t: number | ArrayLike<number>, step = 0): void {
    this.assertLive();
    this.checkStep(step);
    const rows = this.forwardBatch;
    const dim = this.config.frequencyDim;
    if (typeof t !== 'number' && t.length !== rows) throw new InvalidArgumentError('t', `one timestep or ${rows} (one per forward row)`, t.length);
    for (let r = 0; r < rows; r++) {
      const value = typeof t === 'number' ? t : (t[r] as number);
      if (!Number.isFinite(value)) throw new InvalidArgumentError('t', 'finite timesteps (1000·σ)', value);
      timestepFeatures(value, dim, this.stepScratch, r * dim);
    }
    const bytes = this.activationBytes(this.stepScratch);
    this.ctx.write(this.inputs.timesteps.buffer, step * bytes.byteLength, bytes);
  }

  /** Uploads a schedule (≤ MAX_STEPS + 1 sigmas) and the timestep features t = 1000·σ_k of every step. */
  writeSigmas(sigmas: ArrayLike<number>): void {
    this.assertLive();
    if (sigmas.length < 2 || sigmas.length > MAX_STEPS + 1) throw new InvalidArgumentError('sigmas', `2…${MAX_STEPS + 1} values`, sigmas.length);
    // Finite, ≥ 0 and strictly decreasing: an increasing pair would add noise instead of removing it.
    assertSchedule(sigmas);
    this.ctx.write(this.inputs.sigmas.buffer, 0, Float32Array.from(sigmas));
    for (let k = 0; k < sigmas.length - 1; k++) this.writeTimesteps(TIMESTEP_SCALE * (sigmas[k] as number), k);
  }

  /** Encodes and submits one forward reading row `step` of the timestep table. */
  forward(step = 0): void {
    this.assertLive();
    this.checkStep(step);
    this.graph.run(step);
  }

  /** @internal The sampler's replay: queue the step state, then encode into the caller's pass. */
  encodeStep(step: number, pass: GPUComputePassEncoder): void {
    this.graph.setStep(step);
    this.graph.encode(pass);
  }

  /** @internal The forward's step state, shared by the sampler's update graphs. */
  get stepBuffer(): GPUBuffer | null {
    return this.graph.stepStateBuffer;
  }

  get gpu(): GpuContext {
    return this.ctx;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  assertLive(): void {
    if (this.disposed) throw new DisposedError('DenoiserGraph');
    this.ctx.assertUsable();
  }

  /** Frees its buffers; graphs bound to it (sampler updates, conditioning) are disposed with it. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.graphs.forget(this);
    this.graph.dispose();
    for (const buffer of this.owned) this.ctx.destroyBuffer(buffer);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private checkStep(step: number): void {
    if (!Number.isInteger(step) || step < 0 || step >= MAX_STEPS) throw new InvalidArgumentError('step', `an integer in 0…${MAX_STEPS - 1}`, step);
  }

  private write(name: string, tensor: GpuTensor, data: Float32Array, activation: boolean): void {
    this.assertLive();
    const n = elementCount(tensor.shape);
    if (!(data instanceof Float32Array) || data.length !== n) {
      throw new InvalidArgumentError(name, `a Float32Array of ${n} values (${JSON.stringify(tensor.shape)})`, data instanceof Float32Array ? `${data.length} values` : typeof data);
    }
    // One NaN here would turn the whole latent into NaN: named with its first index, before upload.
    assertFinite(name, data);
    this.ctx.write(tensor.buffer, 0, activation ? this.activationBytes(data) : data);
  }

  private activationBytes(values: Float32Array | Float64Array): Uint8Array {
    if (this.precision === 'f16') return encodeF16(values instanceof Float32Array ? values : Float32Array.from(values));
    const f = values instanceof Float32Array ? values : Float32Array.from(values);
    return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  }
}

/**
 * The centre crop of the stored position table for this latent size (MODEL_SPEC §3.2), copied
 * row run by row run on the GPU at compile: never recomputed (checkpoints may hold any table),
 * and only the crop is bound by the patch embedding.
 */
function cropPositions(ctx: GpuContext, table: GpuTensor, c: MmditConfig, s: DenoiserShape): GpuTensor {
  const M = c.posEmbedMaxSize;
  const H = c.hidden;
  const h = s.latentHeight / c.patch;
  const w = s.latentWidth / c.patch;
  const top = Math.floor((M - h) / 2);
  const left = Math.floor((M - w) / 2);
  const element = table.format === 'f32' ? 4 : 2;
  if ((w * H * element) % 4 !== 0 || (H * element) % 4 !== 0) {
    throw new CheckpointError('pos_embed', 'position rows must be a multiple of 4 bytes to copy', 'even hidden width', String(H));
  }
  const bytes = storageBytes([h * w, H], table.format);
  const buffer = ctx.createBuffer('pos_embed crop', bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC);
  const encoder = ctx.device.createCommandEncoder({ label: 'pos_embed crop' });
  for (let r = 0; r < h; r++) {
    const src = table.offset + ((top + r) * M + left) * H * element;
    encoder.copyBufferToBuffer(table.buffer, src, buffer, r * w * H * element, w * H * element);
  }
  ctx.device.queue.submit([encoder.finish()]);
  return { buffer, offset: 0, shape: [h * w, H], format: table.format, label: 'pos_embed crop' };
}
