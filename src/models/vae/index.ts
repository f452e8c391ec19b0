import type { GpuContext } from '../../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../../errors.js';
import { GraphBuilder } from '../../graph/builder.js';
import { compileGraph } from '../../graph/compile.js';
import type { Precision } from '../../shader/contract.js';
import type { PipelineCache } from '../../shader/pipeline-cache.js';
import { gaussianNoise } from '../../sampling/noise.js';
import { readTensor } from '../../tensor/read.js';
import { elementCount, type GpuTensor } from '../../tensor/tensor.js';
import type { TensorSource } from '../../weights/tensor-source.js';
import { checkTensorSet } from '../canonical-view.js';
import { releaseWeights, uploadWeights, type WeightMap } from '../upload.js';
import { type BandLayoutInfo, type BandPlan, bandLayoutOf, outputMap, planBands } from './bands.js';
import { type RgbaImage, VaeDecodeGraph, VaeEncodeGraph } from './graphs.js';
import { deriveVaeConfig, expectedVaeTensors, type VaeConfig, type VaeOverrides } from './config.js';
import { decoderMapKinds, vaeDecoderForward, vaeScale } from './decoder.js';
import { encoderMapKinds, vaeEncoderForward } from './encoder.js';
import { canonicalVaeSource, type VaeKeyOptions, type VaeLayout } from './keys.js';

export { type BandPlan, type FeatureMap, joinBands, planBands } from './bands.js';
export { type RgbaImage, VaeDecodeGraph, VaeEncodeGraph } from './graphs.js';
export { LatentPreviewer, type LatentPreviewShape } from './preview.js';
export { deriveVaeConfig, expectedVaeTensors, SD3_VAE_DEFAULTS, type VaeConfig, type VaeOverrides } from './config.js';
export { decoderMapKinds, vaeDecoderForward, vaeScale } from './decoder.js';
export { encoderMapKinds, vaeEncoderForward } from './encoder.js';
export { type CanonicalVae, canonicalVaeSource, reorderConv, type VaeKeyOptions, type VaeLayout } from './keys.js';

/**
 * The VAE of a checkpoint under canonical names with its configuration, every tensor checked
 * (missing, unexpected, mis-shaped → CheckpointError naming the checkpoint key). No GPU work.
 */
export function openVaeCheckpoint(source: TensorSource, o: VaeKeyOptions & VaeOverrides = {}): { canonical: TensorSource; config: VaeConfig; layout: VaeLayout } {
  const canonical = canonicalVaeSource(source, o);
  const config = deriveVaeConfig(canonical.source.tensors, o);
  checkTensorSet(canonical.source.tensors, expectedVaeTensors(config), canonical.describe);
  return { canonical: canonical.source, config, layout: canonical.layout };
}

export interface VaeShape {
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  /** Keep the per-block intermediates readable (`readTap`). */
  readonly taps?: boolean;
  /** Split into at least this many row bands even when fewer fit (tests). */
  readonly minBands?: number;
}

export interface VaeDecodeShape extends VaeShape {
  /** Keep the float image (before the uint8 conversion) readable without keeping every tap. */
  readonly floatImage?: boolean;
}

export interface LoadVaeOptions extends VaeKeyOptions, VaeOverrides {
  /** Compute precision; `'f16'` needs shader-f16 (default `'f32'`). */
  readonly precision?: Precision;
  readonly signal?: AbortSignal;
}

/** Copies `src` into `dst` on the GPU (both plain buffers, same byte size). */
function copyTensor(ctx: GpuContext, src: GpuTensor, dst: GpuTensor, bytes: number): void {
  const encoder = ctx.device.createCommandEncoder({ label: 'vae input' });
  encoder.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, bytes);
  ctx.device.queue.submit([encoder.finish()]);
}

/**
 * The SD3 VAE on the GPU: weights resident (f16/f32 as stored), one compiled graph per shape.
 * Feature maps over the binding cap are split into row bands (see bands.ts); `bands` on a
 * compiled graph says how many.
 */
export class Vae implements Disposable {
  private readonly decoders = new Map<string, VaeDecodeGraph>();
  private readonly encoders = new Map<string, VaeEncodeGraph>();
  private disposed = false;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly cache: PipelineCache,
    readonly config: VaeConfig,
    private readonly weights: WeightMap,
    readonly precision: Precision,
  ) {}

  static async load(ctx: GpuContext, cache: PipelineCache, source: TensorSource, o: LoadVaeOptions = {}): Promise<Vae> {
    const precision = o.precision ?? 'f32';
    if (precision === 'f16' && !ctx.caps.f16) throw new InvalidArgumentError('precision', '"f32" (this adapter lacks shader-f16)', precision);
    const { canonical, config } = openVaeCheckpoint(source, o);
    const weights = await uploadWeights(ctx, canonical, undefined, o.signal ? { signal: o.signal } : {});
    return new Vae(ctx, cache, config, weights, precision);
  }

  private assertLive(): void {
    if (this.disposed) throw new DisposedError('Vae');
  }

  private checkShape(s: VaeShape): void {
    for (const [name, n] of [['batch', s.batch], ['latentHeight', s.latentHeight], ['latentWidth', s.latentWidth]] as const) {
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`VAE ${name}`, 'a positive integer', n);
    }
  }

  private plan(s: VaeShape, kinds: Parameters<typeof planBands>[0]): BandPlan {
    return planBands(kinds, {
      batch: s.batch,
      latentHeight: s.latentHeight,
      latentWidth: s.latentWidth,
      precision: this.precision,
      maxBinding: this.ctx.caps.maxStorageBufferBindingSize,
      ...(s.minBands !== undefined ? { minBands: s.minBands } : {}),
    });
  }

  /** The decode graph for a latent size (compiled once per shape, then reused). */
  async compileDecoder(s: VaeDecodeShape): Promise<VaeDecodeGraph> {
    this.assertLive();
    if (!this.config.hasDecoder) throw new InvalidArgumentError('VAE decode', 'a checkpoint with a decoder', 'encoder only');
    this.checkShape(s);
    const key = `${s.batch}x${s.latentHeight}x${s.latentWidth}/${s.taps ? 'taps' : ''}/${s.floatImage ? 'image' : ''}/${s.minBands ?? 1}`;
    const cached = this.decoders.get(key);
    if (cached) return cached;
    const plan = this.plan(s, decoderMapKinds(this.config));
    const b = new GraphBuilder(this.ctx.caps, this.precision, Boolean(s.taps));
    const latent = b.input('latent', [s.batch, this.config.latentChannels, s.latentHeight, s.latentWidth], 'f32');
    const layouts = new Map<string, BandLayoutInfo>();
    const out = vaeDecoderForward(b, this.weights, this.config, { latent, batch: s.batch, latentHeight: s.latentHeight, latentWidth: s.latentWidth, plan, layouts });
    b.output('rgba', out.rgba);
    if (s.floatImage) outputMap(b, 'image', out.image);
    layouts.set('image', bandLayoutOf(out.image));
    const graph = new VaeDecodeGraph(this.ctx, await compileGraph(this.ctx, this.cache, b), plan, layouts);
    this.decoders.set(key, graph);
    return graph;
  }

  /** The encode graph for an image size (`latent*` = image size / 8 in SD3). */
  async compileEncoder(s: VaeShape & { readonly sample?: boolean }): Promise<VaeEncodeGraph> {
    this.assertLive();
    if (!this.config.hasEncoder) throw new InvalidArgumentError('VAE encode', 'a checkpoint with an encoder', 'decoder only');
    this.checkShape(s);
    const key = `${s.batch}x${s.latentHeight}x${s.latentWidth}/${s.taps ? 'taps' : ''}/${s.minBands ?? 1}/${s.sample ? 'sample' : 'mean'}`;
    const cached = this.encoders.get(key);
    if (cached) return cached;
    const plan = this.plan(s, encoderMapKinds(this.config));
    const scale = vaeScale(this.config);
    const b = new GraphBuilder(this.ctx.caps, this.precision, Boolean(s.taps));
    const pixels = s.latentHeight * scale * s.latentWidth * scale;
    const rgba = b.input('rgba', [s.batch, pixels], 'u32');
    const noise = s.sample ? b.input('noise', [s.batch, this.config.latentChannels, s.latentHeight, s.latentWidth], 'f32') : null;
    const layouts = new Map<string, BandLayoutInfo>();
    const out = vaeEncoderForward(b, this.weights, this.config, { rgba, batch: s.batch, latentHeight: s.latentHeight, latentWidth: s.latentWidth, plan, noise, layouts });
    for (const name of ['mean', 'logvar', 'latent'] as const) b.output(name, out[name]);
    const graph = new VaeEncodeGraph(this.ctx, await compileGraph(this.ctx, this.cache, b), plan, layouts, Boolean(s.sample));
    this.encoders.set(key, graph);
    return graph;
  }

  /**
   * Decodes denoiser-space latents — an f32 NCHW GPU tensor `[batch, C, h, w]` such as the
   * sampler's result (copied on the GPU) or the same values on the CPU — into pictures.
   */
  async decode(latent: GpuTensor | Float32Array, s: VaeDecodeShape & { readonly signal?: AbortSignal }): Promise<RgbaImage[]> {
    s.signal?.throwIfAborted();
    const graph = await this.compileDecoder(s);
    const count = s.batch * s.latentHeight * s.latentWidth * this.config.latentChannels;
    if (latent instanceof Float32Array) {
      if (latent.length !== count) throw new InvalidArgumentError('VAE latent', `${count} values [batch, C, h, w]`, latent.length);
      this.ctx.write(graph.latent.buffer, 0, latent);
    } else {
      if (elementCount(latent.shape) !== count || latent.format !== 'f32') {
        throw new InvalidArgumentError('VAE latent', `${count} f32 values [batch, C, h, w]`, `${latent.format} ${JSON.stringify(latent.shape)}`);
      }
      copyTensor(this.ctx, latent, graph.latent, count * 4);
    }
    graph.run();
    return graph.readImages();
  }

  /**
   * Encodes RGBA8 images (all of one size, a multiple of the VAE's downscale factor) into
   * denoiser-space latents, NCHW `[batch, C, h, w]`: process_in of the posterior mean, or of a
   * posterior sample drawn with `seed` (Philox, as the sampler's noise) when one is given.
   */
  async encode(images: readonly RgbaImage[], o: { readonly seed?: number; readonly signal?: AbortSignal } = {}): Promise<{ latent: Float32Array; mean: Float32Array; logvar: Float32Array; latentHeight: number; latentWidth: number }> {
    o.signal?.throwIfAborted();
    const first = images[0];
    if (!first) throw new InvalidArgumentError('VAE images', 'at least one image', 0);
    const scale = vaeScale(this.config);
    for (const img of images) {
      if (img.width !== first.width || img.height !== first.height || img.width % scale !== 0 || img.height % scale !== 0 || img.data.length !== img.width * img.height * 4) {
        throw new InvalidArgumentError('VAE image size', `equal sizes, multiples of ${scale}, RGBA8 data`, `${img.width}×${img.height} (${img.data.length} bytes)`);
      }
    }
    const latentHeight = first.height / scale;
    const latentWidth = first.width / scale;
    const sample = o.seed !== undefined;
    const graph = await this.compileEncoder({ batch: images.length, latentHeight, latentWidth, sample });
    const pixels = new Uint8Array(images.length * first.width * first.height * 4);
    images.forEach((img, i) => pixels.set(img.data, i * first.width * first.height * 4));
    this.ctx.write(graph.rgba.buffer, 0, pixels);
    if (sample) this.ctx.write(graph.noise.buffer, 0, gaussianNoise(o.seed as number, images.length, latentHeight * latentWidth * this.config.latentChannels));
    graph.run();
    const [latent, mean, logvar] = await Promise.all([
      readTensor(this.ctx, graph.output('latent')),
      readTensor(this.ctx, graph.output('mean')),
      readTensor(this.ctx, graph.output('logvar')),
    ]);
    return { latent, mean, logvar, latentHeight, latentWidth };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const g of [...this.decoders.values(), ...this.encoders.values()]) g.dispose();
    this.decoders.clear();
    this.encoders.clear();
    releaseWeights(this.ctx, this.weights);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
