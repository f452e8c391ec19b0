import type { GpuContext } from '../gpu/device.js';
import { InvalidArgumentError } from '../errors.js';
import { fromHalf } from './half.js';
import { elementCount, type GpuTensor } from './tensor.js';

/** Reads an f32 tensor (activations, latents, outputs) back to the CPU: tests, debugging, results. */
export async function readTensor(ctx: GpuContext, t: GpuTensor): Promise<Float32Array> {
  if (t.format === 'f32') return new Float32Array(await ctx.read(t.buffer, t.offset, elementCount(t.shape) * 4));
  if (t.format === 'f16') {
    return fromHalf(new Uint16Array(await ctx.read(t.buffer, t.offset, elementCount(t.shape) * 2)));
  }
  throw new InvalidArgumentError(`readTensor(${t.label}).format`, 'f32 or f16', t.format);
}
