import type { GpuContext } from '../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../errors.js';
import { GraphBuilder } from '../graph/builder.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { compileGraph } from '../graph/compile.js';
import { latentPreview, previewFactorTable } from '../kernels/latent-preview.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { RgbaImage } from '../tensor/image.js';
import type { Runtime } from './runtime.js';

export interface LatentPreviewShape {
  readonly batch: number;
  readonly channels: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  /** Row c = channel c's (R, G, B) weights; default SD3's published factors. */
  readonly factors?: readonly (readonly [number, number, number])[];
  readonly bias?: readonly [number, number, number];
}

/**
 * Step previews: the denoiser-space latent (the sampler's f32 NCHW tensor) through a C×3 matrix
 * and bias to RGBA8 at latent resolution — one tiny dispatch and an h·w·4-byte readback per call,
 * so every step can show one. Not the VAE: colours are approximate by design.
 */
export class LatentPreviewer implements Disposable {
  private disposed = false;

  private constructor(
    private readonly ctx: GpuContext,
    private readonly graph: CompiledGraph,
    readonly shape: LatentPreviewShape,
  ) {}

  static async create(rt: Runtime, s: LatentPreviewShape): Promise<LatentPreviewer> {
    const ctx = rt.ctx;
    const table = s.factors ? previewFactorTable(s.factors, s.bias ?? [0, 0, 0]) : previewFactorTable();
    if (table.length !== s.channels * 3 + 3) throw new InvalidArgumentError('preview factors', `${s.channels} rows of 3`, table.length - 3);
    const b = new GraphBuilder(ctx.caps, 'f32');
    const latent = b.input('latent', [s.batch, s.channels, s.latentHeight, s.latentWidth], 'f32');
    b.output('rgba', latentPreview(b, latent, b.constant('factors', [table.length], 'f32', table)));
    return new LatentPreviewer(ctx, await compileGraph(ctx, rt.pipelines, b), s);
  }

  /** Previews of `latent` (f32 NCHW, this previewer's shape), one per batch item. */
  async preview(latent: GpuTensor): Promise<RgbaImage[]> {
    if (this.disposed) throw new DisposedError('LatentPreviewer');
    const input = this.graph.input('latent');
    if (latent.format !== 'f32' || elementCount(latent.shape) !== elementCount(input.shape)) {
      throw new InvalidArgumentError('preview latent', `f32 ${JSON.stringify(input.shape)}`, `${latent.format} ${JSON.stringify(latent.shape)}`);
    }
    const encoder = this.ctx.device.createCommandEncoder({ label: 'latent preview' });
    encoder.copyBufferToBuffer(latent.buffer, latent.offset, input.buffer, input.offset, elementCount(input.shape) * 4);
    const pass = encoder.beginComputePass();
    this.graph.encode(pass);
    pass.end();
    this.ctx.device.queue.submit([encoder.finish()]);
    const { batch, latentHeight: height, latentWidth: width } = this.shape;
    const bytes = new Uint8ClampedArray(await this.ctx.read(this.graph.output('rgba').buffer, 0, batch * height * width * 4));
    return Array.from({ length: batch }, (_, i) => ({ width, height, data: bytes.slice(i * height * width * 4, (i + 1) * height * width * 4) }));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.graph.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
