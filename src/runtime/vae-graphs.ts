import type { GpuContext } from '../gpu/device.js';
import { InvalidArgumentError } from '../errors.js';
import type { CompiledGraph } from '../graph/compiled-graph.js';
import { readTensor } from '../tensor/read.js';
import type { RgbaImage } from '../tensor/image.js';
import type { GpuTensor } from '../tensor/tensor.js';
import type { LatentGuard } from './finite-check.js';
import { type BandLayoutInfo, type BandPlan, joinBands } from '../models/vae/bands.js';

export type { RgbaImage } from '../tensor/image.js';

/** Shared by the decode and encode graphs: a compiled graph plus where its banded maps live. */
export abstract class VaeGraph implements Disposable {
  private disposedByUser = false;

  constructor(
    protected readonly ctx: GpuContext,
    readonly graph: CompiledGraph,
    readonly plan: BandPlan,
    protected readonly layouts: ReadonlyMap<string, BandLayoutInfo>,
  ) {}

  /** GPU bytes of the compiled graph (what the graph cache counts). */
  get bytes(): number {
    return this.graph.bytes;
  }

  get isDisposed(): boolean {
    return this.disposedByUser || this.graph.isDisposed;
  }

  /** Row bands the maps are split into (1 = unsplit). */
  get bands(): number {
    return this.plan.bounds.length - 1;
  }

  /** Encodes and submits the whole graph (no readback). */
  run(): void {
    this.graph.run();
  }

  /** A tapped map as one NHWC `[batch, H·W, C]` array, its bands joined. */
  async readTap(name: string): Promise<Float32Array> {
    const layout = this.layouts.get(name);
    if (!layout) {
      const t = this.graph.taps.get(name);
      if (!t) throw new InvalidArgumentError('VAE tap', `one of ${[...this.layouts.keys(), ...this.graph.taps.keys()].join(', ')}`, name);
      return readTensor(this.ctx, t);
    }
    const parts: Float32Array[] = [];
    for (let j = 0; j < layout.bands.length; j++) {
      const key = layout.bands.length > 1 ? `${name}#${j}` : name;
      const t = this.graph.taps.get(key) ?? this.graph.outputs.get(key);
      if (!t) throw new InvalidArgumentError('VAE tap', 'a graph compiled with taps', name);
      parts.push(await readTensor(this.ctx, t));
    }
    return joinBands(layout, parts);
  }

  dispose(): void {
    this.disposedByUser = true;
    this.graph.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A decode planned for one latent size: write `latent`, `run()`, read the pictures. */
export class VaeDecodeGraph extends VaeGraph {
  /** Denoiser-space latent, f32 NCHW `[batch, C, h, w]` (the sampler's layout). */
  get latent(): GpuTensor {
    return this.graph.input('latent');
  }

  /** Packed RGBA8, u32 `[batch, H·W]`. */
  get rgba(): GpuTensor {
    return this.graph.output('rgba');
  }

  /** The pictures: the only readback of a generation. */
  /**
   * The pictures, in one readback. `guard` (the sampled latent's non-finite check) comes back in
   * the same readback and is judged before the pictures are returned.
   */
  async readImages(guard?: LatentGuard): Promise<RgbaImage[]> {
    const t = this.rgba;
    const [batch, pixels] = t.shape as [number, number];
    const size = batch * pixels * 4;
    let bytes: Uint8ClampedArray;
    if (guard) {
      const [image, flag] = await this.ctx.readMany([{ buffer: t.buffer, offset: t.offset, size }, { buffer: guard.flag.buffer, offset: guard.flag.offset, size: 12 }]);
      guard.judge(new Uint32Array(flag as ArrayBuffer));
      bytes = new Uint8ClampedArray(image as ArrayBuffer);
    } else {
      bytes = new Uint8ClampedArray(await this.ctx.read(t.buffer, t.offset, size));
    }
    const image = this.layouts.get('image') as BandLayoutInfo;
    return Array.from({ length: batch }, (_, i) => ({
      width: image.width,
      height: image.height,
      data: bytes.slice(i * pixels * 4, (i + 1) * pixels * 4),
    }));
  }

  /** The float image `[batch, H·W, 3]` before conversion (graphs compiled with `floatImage` or `taps`). */
  readFloatImage(): Promise<Float32Array> {
    return this.readTap('image');
  }
}

/** An encode planned for one image size: write `rgba` (and `noise`), `run()`, read the latent. */
export class VaeEncodeGraph extends VaeGraph {
  readonly sampled: boolean;

  constructor(ctx: GpuContext, graph: CompiledGraph, plan: BandPlan, layouts: ReadonlyMap<string, BandLayoutInfo>, sampled: boolean) {
    super(ctx, graph, plan, layouts);
    this.sampled = sampled;
  }

  get rgba(): GpuTensor {
    return this.graph.input('rgba');
  }

  /** f32 NCHW `[batch, C, h, w]` standard normal noise (graphs compiled with `sample`). */
  get noise(): GpuTensor {
    return this.graph.input('noise');
  }

  output(name: 'mean' | 'logvar' | 'latent'): GpuTensor {
    return this.graph.output(name);
  }
}

