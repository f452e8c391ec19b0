import path from 'node:path';
import { encodeF16, encodeF32 } from '../../../src/weights/decode.js';
import { encodeSafetensors, type SafetensorsTensor } from '../../../src/weights/safetensors-write.js';
import { seededRandom } from '../../reference/random.js';

/** The shared reference folder beside the checkout (CI puts a copy there too). */
export const SHARED_DIR = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');
export const VECTORS_DIR = path.join(SHARED_DIR, 'vectors');

/** Uniform values in [-scale, scale). */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

export function f32Tensor(name: string, shape: number[], values: Float32Array): SafetensorsTensor {
  return { name, dtype: 'F32', shape, data: encodeF32(values) };
}

export function f16Tensor(name: string, shape: number[], values: Float32Array): SafetensorsTensor {
  return { name, dtype: 'F16', shape, data: encodeF16(values) };
}

/** A safetensors file whose header is replaced by `header` (any bytes) and data by `data`. */
export function rawSafetensors(header: string | Uint8Array, data = new Uint8Array(0), claimedLength?: bigint): Uint8Array {
  const json = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

export { encodeSafetensors };
