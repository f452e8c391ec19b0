import type { GpuContext } from '../gpu/device.js';
import { InvalidArgumentError } from '../gpu/errors.js';
import { elementCount, type GpuTensor } from './tensor.js';

/** Reads an f32 tensor (activations, latents, outputs) back to the CPU: tests, debugging, results. */
export async function readTensor(ctx: GpuContext, t: GpuTensor): Promise<Float32Array> {
  if (t.format === 'f32') return new Float32Array(await ctx.read(t.buffer, t.offset, elementCount(t.shape) * 4));
  if (t.format === 'f16') {
    const bits = new Uint16Array(await ctx.read(t.buffer, t.offset, elementCount(t.shape) * 2));
    return Float32Array.from(bits, halfToFloat);
  }
  throw new InvalidArgumentError(`readTensor(${t.label}).format`, 'f32 or f16', t.format);
}

function halfToFloat(h: number): number {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
