import { InvalidArgumentError } from '../errors.js';
import type { RgbaImage } from '../tensor/image.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';
import type { Runtime } from './runtime.js';
import type { Vae } from './vae.js';
import type { LatentGuard } from './finite-check.js';

/**
 * GPU-side steps the pipeline strings together between components: copies between tensors of one
 * format, a tensor held in a buffer of its own while the graph that made it is freed, a tensor
 * from host data, and a VAE decode submitted in parts with the signal checked between them.
 */

const USAGE = (): number => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** Copies `from` into `to` on the GPU (same element count and format). */
export function copyTensor(rt: Runtime, from: GpuTensor, to: GpuTensor): void {
  const n = elementCount(from.shape);
  if (elementCount(to.shape) !== n || from.format !== to.format || (from.format !== 'f32' && from.format !== 'f16')) {
    throw new InvalidArgumentError(`${to.label} copy`, `${elementCount(to.shape)} ${to.format} values`, `${n} ${from.format} values`);
  }
  const encoder = rt.ctx.device.createCommandEncoder({ label: `${to.label} ← ${from.label}` });
  encoder.copyBufferToBuffer(from.buffer, from.offset, to.buffer, to.offset, n * (from.format === 'f32' ? 4 : 2));
  rt.ctx.device.queue.submit([encoder.finish()]);
}

/** A copy of `t` in a new buffer the caller owns (destroy it with `ctx.destroyBuffer`). */
export function holdTensor(rt: Runtime, t: GpuTensor): GpuTensor {
  const bytes = elementCount(t.shape) * (t.format === 'f32' ? 4 : 2);
  const held: GpuTensor = { buffer: rt.ctx.createBuffer(`held ${t.label}`, bytes, USAGE()), offset: 0, shape: t.shape, format: t.format, label: `held ${t.label}` };
  copyTensor(rt, t, held);
  return held;
}

/** An f32 tensor from host data, in a new buffer the caller owns. */
export function tensorFromData(rt: Runtime, data: Float32Array, shape: readonly number[], label: string): GpuTensor {
  if (elementCount(shape) !== data.length) throw new InvalidArgumentError(label, `${elementCount(shape)} values ${JSON.stringify(shape)}`, data.length);
  const buffer = rt.ctx.createBuffer(label, data.byteLength, USAGE());
  rt.ctx.write(buffer, 0, data);
  return { buffer, offset: 0, shape, format: 'f32', label };
}

export interface BandedDecodeOptions {
  readonly signal?: AbortSignal;
  /** Before part `band` (0…bands−1) is submitted, and with `band = bands` when the picture is read. */
  readonly onBand?: (band: number, bands: number) => void;
  /** The sampled latent's non-finite check (`latentGuard`), read back with the pictures. */
  readonly guard?: LatentGuard;
}

/**
 * Decodes the sampler's latent (copied on the GPU) in as many submits as the decode has row bands
 * (equal runs of its dispatches), awaiting each and checking the signal between them; then the
 * one readback. An abort leaves the decode graph usable.
 */
export async function decodeInBands(vae: Vae, latent: GpuTensor, shape: { batch: number; latentHeight: number; latentWidth: number }, o: BandedDecodeOptions = {}): Promise<RgbaImage[]> {
  const rt = vae.runtime;
  const graph = await vae.compileDecoder(shape);
  const unpin = rt.graphs.pin(graph);
  try {
    const queue = rt.ctx.device.queue;
    copyTensor(rt, latent, graph.latent);
    const compiled = graph.graph;
    const dispatches = compiled.dispatches.length;
    const bands = Math.max(1, Math.min(graph.bands, dispatches));
    for (let band = 0; band < bands; band++) {
      if (band > 0) {
        await queue.onSubmittedWorkDone();
        o.signal?.throwIfAborted();
      }
      o.onBand?.(band, bands);
      rt.assertUsable();
      const encoder = rt.ctx.device.createCommandEncoder({ label: `VAE decode part ${band + 1}/${bands}` });
      const pass = encoder.beginComputePass();
      const to = Math.floor(((band + 1) * dispatches) / bands);
      for (let i = Math.floor((band * dispatches) / bands); i < to; i++) compiled.encodeDispatch(pass, i);
      pass.end();
      queue.submit([encoder.finish()]);
    }
    if (o.signal?.aborted) {
      await queue.onSubmittedWorkDone();
      o.signal.throwIfAborted();
    }
    const images = await graph.readImages(o.guard);
    o.onBand?.(bands, bands);
    return images;
  } finally {
    unpin();
  }
}
