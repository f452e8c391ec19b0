import type { GpuContext } from '../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import { compileGraph } from '../graph/compile.js';
import { vaeOverrides } from '../models/stored-config.js';
import { type BandLayoutInfo, type BandPlan, bandLayoutOf, outputMap, planBands } from '../models/vae/bands.js';
import { decoderMapKinds, vaeDecoderForward, vaeScale } from '../models/vae/decoder.js';
import { encoderMapKinds, vaeEncoderForward } from '../models/vae/encoder.js';
import type { VaeConfig } from '../models/vae/config.js';
import { type LoadVaeOptions, openVaeCheckpoint, type VaeDecodeShape, type VaeShape } from '../models/vae/index.js';
import { gaussianNoise } from '../sampling/noise.js';
import type { Precision } from '../shader/contract.js';
import type { RgbaImage } from '../tensor/image.js';
import { readTensor } from '../tensor/read.js';
import { assertFinite } from '../tensor/finite.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { Component } from './component.js';
import { checkPrecision } from './denoiser.js';
import type { Runtime } from './runtime.js';
import { VaeDecodeGraph, VaeEncodeGraph } from './vae-graphs.js';
import type { WeightMap } from './weight-map.js';
import { loadResident, type WeightsInput } from './weights.js';

/**
 * Loads the SD3 VAE from weights already uploaded, a converted model's component, or a
 * checkpoint (reference or diffusers layout), checked completely before any upload.
 */
export async function loadVae(rt: Runtime, input: WeightsInput, o: LoadVaeOptions = {}): Promise<Vae> {
  const precision = checkPrecision(rt, o.precision ?? 'f32');
  return loadResident(
    rt,
    input,
    (source, stored) => openVaeCheckpoint(source, { ...vaeOverrides(stored), ...o }),
    (config, weights, owned) => new Vae(rt, config, weights, owned, precision),
    o.signal ? { signal: o.signal } : {},
  );
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
export class Vae implements Component<VaeDecodeShape, VaeDecodeGraph> {
  readonly kind = 'vae';
  private disposed = false;

  constructor(
    readonly runtime: Runtime,
    readonly config: VaeConfig,
    readonly weights: WeightMap,
    private readonly ownsWeights: boolean,
    readonly precision: Precision,
  ) {}

  private get ctx(): GpuContext {
    return this.runtime.ctx;
  }

  static load(rt: Runtime, input: WeightsInput, o: LoadVaeOptions = {}): Promise<Vae> {
    return loadVae(rt, input, o);
  }

  /** The decode graph for a latent size (`compileDecoder`). */
  compile(s: VaeDecodeShape): Promise<VaeDecodeGraph> {
    return this.compileDecoder(s);
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
    return this.runtime.graphs.get(this, `vae-decode|${key}`, async () => {
      const plan = this.plan(s, decoderMapKinds(this.config));
      const b = new GraphBuilder(this.ctx.caps, this.precision, Boolean(s.taps));
      const latent = b.input('latent', [s.batch, this.config.latentChannels, s.latentHeight, s.latentWidth], 'f32');
      const layouts = new Map<string, BandLayoutInfo>();
      const out = vaeDecoderForward(b, this.weights, this.config, { latent, batch: s.batch, latentHeight: s.latentHeight, latentWidth: s.latentWidth, plan, layouts });
      b.output('rgba', out.rgba);
      if (s.floatImage) outputMap(b, 'image', out.image);
      layouts.set('image', bandLayoutOf(out.image));
      return new VaeDecodeGraph(this.ctx, await compileGraph(this.ctx, this.runtime.pipelines, b), plan, layouts);
    });
  }

  /** The encode graph for an image size (`latent*` = image size / 8 in SD3). */
  async compileEncoder(s: VaeShape & { readonly sample?: boolean }): Promise<VaeEncodeGraph> {
    this.assertLive();
    if (!this.config.hasEncoder) throw new InvalidArgumentError('VAE encode', 'a checkpoint with an encoder', 'decoder only');
    this.checkShape(s);
    const key = `${s.batch}x${s.latentHeight}x${s.latentWidth}/${s.taps ? 'taps' : ''}/${s.minBands ?? 1}/${s.sample ? 'sample' : 'mean'}`;
    return this.runtime.graphs.get(this, `vae-encode|${key}`, async () => {
      const plan = this.plan(s, encoderMapKinds(this.config));
      const scale = vaeScale(this.config);
      const b = new GraphBuilder(this.ctx.caps, this.precision, Boolean(s.taps));
      const pixels = s.latentHeight * scale * s.latentWidth * scale;
      const rgba = b.input('rgba', [s.batch, pixels], 'u32');
      const noise = s.sample ? b.input('noise', [s.batch, this.config.latentChannels, s.latentHeight, s.latentWidth], 'f32') : null;
      const layouts = new Map<string, BandLayoutInfo>();
      const out = vaeEncoderForward(b, this.weights, this.config, { rgba, batch: s.batch, latentHeight: s.latentHeight, latentWidth: s.latentWidth, plan, noise, layouts });
      for (const name of ['mean', 'logvar', 'latent'] as const) b.output(name, out[name]);
      return new VaeEncodeGraph(this.ctx, await compileGraph(this.ctx, this.runtime.pipelines, b), plan, layouts, Boolean(s.sample));
    });
  }

  /**
   * Decodes denoiser-space latents — an f32 NCHW GPU tensor `[batch, C, h, w]` such as the
   * sampler's result (copied on the GPU) or the same values on the CPU — into pictures.
   */
  async decode(latent: GpuTensor | Float32Array, s: VaeDecodeShape & { readonly signal?: AbortSignal }): Promise<RgbaImage[]> {
    s.signal?.throwIfAborted();
    const graph = await this.compileDecoder(s);
    const unpin = this.runtime.graphs.pin(graph);
    try {
      const count = s.batch * s.latentHeight * s.latentWidth * this.config.latentChannels;
      if (latent instanceof Float32Array) {
        if (latent.length !== count) throw new InvalidArgumentError('VAE latent', `${count} values [batch, C, h, w]`, latent.length);
        assertFinite('VAE latent', latent);
        this.ctx.write(graph.latent.buffer, 0, latent);
      } else {
        if (elementCount(latent.shape) !== count || latent.format !== 'f32') {
          throw new InvalidArgumentError('VAE latent', `${count} f32 values [batch, C, h, w]`, `${latent.format} ${JSON.stringify(latent.shape)}`);
        }
        copyTensor(this.ctx, latent, graph.latent, count * 4);
      }
      graph.run();
      return await graph.readImages();
    } finally {
      unpin();
    }
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
    this.runtime.graphs.release(this);
    if (this.ownsWeights) this.weights.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
