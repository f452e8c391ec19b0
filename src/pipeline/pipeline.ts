import { DisposedError, InvalidArgumentError } from '../errors.js';
import { GpuContext } from '../gpu/device.js';
import { stackTokens } from '../models/conditioning.js';
import { conditionInto, encodeConditioning } from '../runtime/conditioning.js';
import { copyTensor, decodeInBands, holdTensor, tensorFromData } from '../runtime/hand-off.js';
import { latentGuard, type LatentGuard } from '../runtime/finite-check.js';
import type { Denoiser } from '../runtime/denoiser.js';
import type { DenoiserGraph } from '../runtime/denoiser-graph.js';
import { LatentPreviewer } from '../runtime/preview.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import { sample } from '../runtime/sampler.js';
import type { Vae } from '../runtime/vae.js';
import { gaussianNoise } from '../sampling/noise.js';
import type { RgbaImage } from '../tensor/image.js';
import { readTensor } from '../tensor/read.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import { type Loaded, type LoadContext, loadDenoiserComponent, loadTextEncoders, loadVaeComponent, release, type TextEncoders } from './components.js';
import { contextRows, loadTokenizer, type ModelFacts, modelFacts, type PromptTokenizer, type PromptTokens, resolveModel, type ResolvedModel } from './model.js';
import { formatParameters } from './parameters.js';
import type { Progress } from './progress.js';
import { GenerationQueue } from './queue.js';
import type { GenerateOptions, GenerateResult, Pipeline, PipelineHost, PipelineInfo, PipelineOptions } from './types.js';
import { checkPipelineOptions, type GenerateRequest, resolveGenerate } from './validate.js';

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
/** Minimum ms between denoise events without previews (DESIGN §11: ≤ 10 per second). */
const DENOISE_THROTTLE_MS = 100;

/**
 * Prompt → pixels on one device: resolves the model (JSON only), checks every option, acquires
 * the GPU, loads the components (all at once, or per phase with `residency: 'sequential'`),
 * and serves `generate` calls one at a time. The only readback of a generation is the image
 * (plus the latent previews when asked for).
 */
export async function createPipelineOn(host: PipelineHost, o: PipelineOptions = {}): Promise<Pipeline> {
  const started = now();
  checkPipelineOptions(o);
  o.signal?.throwIfAborted();
  const model = await resolveModel(host, o, o.signal);
  const facts = modelFacts(model);
  if (o.textEncoders?.t5 === true && !facts.hasT5) {
    throw new InvalidArgumentError('textEncoders.t5', `false or unset: ${model.manifest.model} has no T5 encoder (its ${facts.t5Rows} T5 context rows are zeros)`, true);
  }
  const useT5 = facts.hasT5 && o.textEncoders?.t5 !== false;
  const ctx = await GpuContext.acquire({ ...(host.gpu ? { gpu: host.gpu } : {}), ...(o.limits ? { limits: o.limits } : {}) });
  try {
    const precision = o.precision ?? 'f32';
    if (precision === 'f16' && !ctx.caps.f16) throw new InvalidArgumentError('precision', '"f32" (this adapter lacks shader-f16)', 'f16');
    const tokenizer = await loadTokenizer(host, model, useT5, o.signal);
    const engine = new PipelineEngine(host, ctx, model, facts, tokenizer, o, useT5, precision);
    if (engine.info.residency === 'all') await engine.loadAll(o.signal);
    o.onProgress?.({ phase: 'ready', model: model.manifest.model, variant: model.manifest.variant, ms: now() - started });
    return engine;
  } catch (error) {
    ctx.dispose();
    throw error;
  }
}

interface Phase {
  loadMs: number;
  compileMs: number;
}

class PipelineEngine implements Pipeline {
  readonly info: PipelineInfo;
  private readonly rt: Runtime;
  private readonly queue: GenerationQueue;
  private readonly load: LoadContext;
  private text: Loaded<{ dispose(): void } & TextEncoders> | null = null;
  private denoiser: Loaded<Denoiser> | null = null;
  private vae: Loaded<Vae> | null = null;
  private readonly previewers = new Map<string, Promise<LatentPreviewer>>();
  private disposed = false;
  /** Denoiser shapes compiled so far (compile progress is reported for new ones only). */
  private readonly compiled = new Set<string>();
  /** Progress listener of the generation being run (the pipeline's own listener always hears). */
  private listener: ((e: Progress) => void) | undefined;

  constructor(
    private readonly host: PipelineHost,
    private readonly ctx: GpuContext,
    private readonly model: ResolvedModel,
    private readonly facts: ModelFacts,
    private readonly tokenizer: PromptTokenizer,
    private readonly options: PipelineOptions,
    private readonly useT5: boolean,
    precision: 'f32' | 'f16',
  ) {
    this.rt = createRuntime(ctx);
    this.queue = new GenerationQueue(options.busyPolicy ?? 'queue');
    this.info = {
      model: model.manifest.model,
      variant: model.manifest.variant,
      precision,
      t5: useT5,
      residency: options.residency ?? 'all',
      adapter: ctx.adapterInfo,
      features: [...ctx.device.features],
      defaults: facts.defaults,
      maxSize: facts.maxSize,
    };
    this.load = {
      rt: this.rt,
      host,
      model,
      shardCache: options.cache === false ? null : host.openCache(),
      precision,
      emit: (e) => this.emit(e),
    };
  }

  private emit(e: Progress): void {
    this.options.onProgress?.(e);
    this.listener?.(e);
  }

  async loadAll(signal?: AbortSignal): Promise<void> {
    await this.ensureText(signal);
    await this.ensureDenoiser(signal);
    await this.ensureVae(signal);
  }

  private async ensureText(signal?: AbortSignal): Promise<TextEncoders> {
    this.text ??= await loadTextEncoders(this.load, this.useT5, signal);
    return this.text.component;
  }

  private async ensureDenoiser(signal?: AbortSignal): Promise<Denoiser> {
    this.denoiser ??= await loadDenoiserComponent(this.load, signal);
    return this.denoiser.component;
  }

  private async ensureVae(signal?: AbortSignal): Promise<Vae> {
    this.vae ??= await loadVaeComponent(this.load, signal);
    return this.vae.component;
  }

  generate(g: GenerateOptions): Promise<GenerateResult> {
    if (this.disposed) return Promise.reject(new DisposedError('Pipeline'));
    let request: GenerateRequest;
    try {
      request = resolveGenerate(g, this.facts, this.ctx.caps, this.useT5, this.info.precision);
      this.ctx.assertUsable();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.queue.run(async (signal) => {
      if (this.disposed) throw new DisposedError('Pipeline');
      this.listener = g.onProgress;
      try {
        return await this.run(request, signal);
      } finally {
        this.listener = undefined;
      }
    }, g.signal);
  }

  private async timed<T>(phase: Phase, key: keyof Phase, work: () => Promise<T>): Promise<T> {
    const t = now();
    try {
      return await work();
    } finally {
      phase[key] += now() - t;
    }
  }

  private async run(r: GenerateRequest, signal: AbortSignal): Promise<GenerateResult> {
    const t0 = now();
    const phase: Phase = { loadMs: 0, compileMs: 0 };
    const memory = this.ctx.memory;
    const sequential = this.info.residency === 'sequential';
    memory.resetPeak();

    // Text: cond rows for every image, then uncond rows (CFG), through the encoders in one batch.
    const tText = now();
    const cfg = r.guidanceScale !== 1;
    const cond = this.tokenizer.tokenize(r.prompt, r.prompt2, r.prompt3, r.maxSequenceLength);
    const rows: PromptTokens[] = new Array<PromptTokens>(r.images).fill(cond);
    if (cfg) {
      const uncond = this.tokenizer.tokenize(r.negativePrompt, r.negativePrompt, r.negativePrompt, r.maxSequenceLength);
      rows.push(...new Array<PromptTokens>(r.images).fill(uncond));
    }
    const tText0 = now();
    const text = await this.timed(phase, 'loadMs', () => this.ensureText(signal));
    const textLoadMs = phase.loadMs;
    signal.throwIfAborted();
    const tokens = stackTokens(rows);
    const context = contextRows(this.useT5 ? Math.max(1, ...rows.map((t) => t.t5?.length ?? 0)) : null, this.facts.t5Rows);
    const latentHeight = r.height / this.facts.vaeScale;
    const latentWidth = r.width / this.facts.vaeScale;
    const shape = { batch: r.images, latentHeight, latentWidth, ...context.shape, cfg };
    const what = `denoiser ${r.width}×${r.height}×${r.images}${cfg ? ' cfg' : ''}`;
    const compile = async (denoiser: Denoiser): Promise<DenoiserGraph> => {
      const fresh = !this.compiled.has(what + shape.contextLength);
      if (fresh) this.emit({ phase: 'compile', what, done: 0, total: 1 });
      const g = await this.timed(phase, 'compileMs', () => denoiser.compile(shape));
      if (fresh) this.emit({ phase: 'compile', what, done: 1, total: 1 });
      this.compiled.add(what + shape.contextLength);
      return g;
    };
    const conditioning = { contextDim: this.facts.mmdit.contextDim, absentT5Tokens: context.t5Tokens, signal };
    const announce = (): void => {
      const encoders: ('clip_l' | 'clip_g' | 't5')[] = this.useT5 ? ['clip_l', 'clip_g', 't5'] : ['clip_l', 'clip_g'];
      for (const encoder of encoders) this.emit({ phase: 'text', encoder });
    };
    const peak = { text: 0, denoise: 0, decode: 0 };
    let graph: DenoiserGraph;
    let textMs: number;
    if (!sequential) {
      // Everything resident: the encoders write straight into the denoiser graph's inputs.
      graph = await compile(await this.timed(phase, 'loadMs', () => this.ensureDenoiser(signal)));
      signal.throwIfAborted();
      announce();
      const tEncode = now();
      await conditionInto(text, tokens, graph, conditioning);
      // Tokenizing plus the encoders and assembly (loading and compiling are counted apart).
      textMs = now() - tEncode + (tText0 - tText);
      peak.text = memory.peakBytes;
    } else {
      // Sequential: the conditioning is kept in buffers of the pipeline's own, the encoders (and
      // their graphs, which held it) are freed, then the denoiser is loaded and its inputs filled.
      announce();
      const cond = await encodeConditioning(text, tokens, conditioning);
      let held: GpuTensor[];
      try {
        held = [holdTensor(this.rt, cond.context), holdTensor(this.rt, cond.pooled)];
      } finally {
        cond.dispose();
      }
      try {
        release(this.text);
        this.text = null;
        textMs = now() - tText - textLoadMs;
        peak.text = memory.peakBytes;
        memory.resetPeak();
        graph = await compile(await this.timed(phase, 'loadMs', () => this.ensureDenoiser(signal)));
        signal.throwIfAborted();
        await this.handOff(held[0] as GpuTensor, graph.inputs.context, (d) => graph.writeContext(d));
        await this.handOff(held[1] as GpuTensor, graph.inputs.pooled, (d) => graph.writePooled(d));
      } finally {
        for (const t of held) this.ctx.destroyBuffer(t.buffer);
      }
    }
    signal.throwIfAborted();
    memory.resetPeak();
    const unpin = this.rt.graphs.pin(graph);
    try {
      return await this.denoiseAndDecode(r, graph, signal, phase, peak, textMs, t0);
    } finally {
      unpin();
    }
  }

  private async denoiseAndDecode(r: GenerateRequest, graph: DenoiserGraph, signal: AbortSignal, phase: Phase, peak: { text: number; denoise: number; decode: number }, textMs: number, t0: number): Promise<GenerateResult> {
    const memory = this.ctx.memory;
    const sequential = this.info.residency === 'sequential';
    // Noise: image i is seed + i, so a batch equals the single images of those seeds.
    const perImage = elementCount(graph.inputs.latent.shape) / r.images;
    const noise = new Float32Array(perImage * r.images);
    for (let i = 0; i < r.images; i++) noise.set(gaussianNoise(r.seed + i, 1, perImage), i * perImage);

    let initLatent: GpuTensor | null = null;
    if (r.image && r.strength !== undefined) {
      const vae = await this.timed(phase, 'loadMs', () => this.ensureVae(signal));
      const encoded = await vae.encode(new Array<RgbaImage>(r.images).fill(r.image), { signal });
      initLatent = tensorFromData(this.rt, encoded.latent, graph.inputs.latent.shape, 'image-to-image latent');
    }

    const stepMs: number[] = [];
    let last = now();
    let lastEmit = 0;
    const tDenoise = now();
    const previewer = r.previews ? await this.previewer(graph) : null;
    let previewBusy = false;
    try {
      const latent = await sample(graph, {
        steps: r.steps,
        guidanceScale: r.guidanceScale,
        shift: r.shift,
        noise,
        signal,
        ...(initLatent ? { initLatent, denoise: r.strength as number } : {}),
        onStep: (i) => {
          const t = now();
          stepMs.push(t - last);
          last = t;
          const event = { phase: 'denoise', step: i + 1, steps: r.steps, elapsedMs: t - tDenoise } as const;
          if (t - lastEmit >= DENOISE_THROTTLE_MS || i + 1 === r.steps || previewer) {
            lastEmit = t;
            this.emit(event);
          }
          // One preview in flight at most; the step loop never waits for it.
          if (previewer && !previewBusy) {
            previewBusy = true;
            void previewer
              .preview(graph.inputs.latent)
              .then((preview) => this.emit({ ...event, preview }))
              .catch(() => undefined)
              .finally(() => (previewBusy = false));
          }
        },
      });
      peak.denoise = memory.peakBytes;
      memory.resetPeak();
      signal.throwIfAborted();

      // Decode: the latent goes to the VAE on the GPU; the picture is the one readback.
      const tDecode = now();
      const vae = await this.timed(phase, 'loadMs', () => this.ensureVae(signal));
      // The latent's non-finite check (made in the last step's pass) comes back with the pictures.
      const images = await this.decode(vae, latent, r, signal, phase, latentGuard(graph));
      if (sequential) {
        release(this.vae);
        this.vae = null;
      }
      peak.decode = memory.peakBytes;
      const decodeMs = now() - tDecode;
      const totalMs = now() - t0;
      const seeds = Array.from({ length: r.images }, (_, i) => r.seed + i);
      const parameters = formatParameters({
        prompt: r.prompt,
        negativePrompt: r.negativePrompt,
        steps: r.steps,
        guidanceScale: r.guidanceScale,
        seed: r.seed,
        width: r.width,
        height: r.height,
        model: this.info.model,
        variant: this.info.variant,
        shift: r.shift,
        ...(r.strength !== undefined ? { strength: r.strength } : {}),
      });
      this.emit({ phase: 'done', totalMs });
      return {
        images,
        seeds,
        parameters,
        timings: { textMs, loadMs: phase.loadMs, compileMs: phase.compileMs, stepMs, decodeMs, totalMs },
        peakGpuBytes: { ...peak, total: Math.max(peak.text, peak.denoise, peak.decode) },
      };
    } finally {
      if (initLatent) this.ctx.destroyBuffer(initLatent.buffer);
    }
  }

  /**
   * Conditioning into the denoiser's input on the GPU (same f32 bytes). Under f16 compute the
   * input holds halves, so the values go through `write` (which converts) instead.
   */
  private async handOff(from: GpuTensor, to: GpuTensor, write: (data: Float32Array) => void): Promise<void> {
    if (to.format === from.format) return copyTensor(this.rt, from, to);
    write(await readTensor(this.ctx, from));
  }

  private previewer(graph: DenoiserGraph): Promise<LatentPreviewer> {
    const [batch, channels, latentHeight, latentWidth] = graph.inputs.latent.shape as [number, number, number, number];
    const key = `${batch}x${channels}x${latentHeight}x${latentWidth}`;
    let p = this.previewers.get(key);
    if (!p) {
      const f = this.model.manifest.preview;
      p = LatentPreviewer.create(this.rt, { batch, channels, latentHeight, latentWidth, ...(f ? { factors: f.factors, bias: f.bias } : {}) });
      this.previewers.set(key, p);
      p.catch(() => this.previewers.delete(key));
    }
    return p;
  }

  /** The decode in parts (one per row band), cancellable between them; then the one readback. */
  private async decode(vae: Vae, latent: GpuTensor, r: GenerateRequest, signal: AbortSignal, phase: Phase, guard: LatentGuard | undefined): Promise<RgbaImage[]> {
    const shape = { batch: r.images, latentHeight: r.height / this.facts.vaeScale, latentWidth: r.width / this.facts.vaeScale };
    await this.timed(phase, 'compileMs', () => vae.compileDecoder(shape));
    return decodeInBands(vae, latent, shape, { signal, onBand: (band, bands) => this.emit({ phase: 'decode', band, bands }), ...(guard ? { guard } : {}) });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue.abortAll(new DisposedError('Pipeline'));
    for (const p of this.previewers.values()) void p.then((x) => x.dispose(), () => undefined);
    this.rt.dispose();
    release(this.text);
    release(this.denoiser);
    release(this.vae);
    this.text = null;
    this.denoiser = null;
    this.vae = null;
    this.ctx.dispose();
    this.host.release?.();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
