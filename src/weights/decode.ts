import { CheckpointError } from '../errors.js';
import type { TensorDtype } from './tensor-source.js';

/**
 * Exact CPU decoding of stored element types. Integer bit manipulation, never a float16 library
 * or a flushing conversion: F16 subnormals (exponent 0, value m·2^-24) must survive, and the
 * reference vectors are checked at tolerances that notice when they do not (MODEL_SPEC §6).
 */

const F16_EXP_MASK = 0x7c00;
const F16_MANT_MASK = 0x03ff;
/** 2^-24, the value of the least significant bit of an f16 subnormal. */
const F16_SUBNORMAL_UNIT = 5.9604644775390625e-8;

/** One IEEE half (as its 16 bits) to the exactly equal number. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits & F16_EXP_MASK) >> 10;
  const mantissa = bits & F16_MANT_MASK;
  if (exponent === 0) return sign * mantissa * F16_SUBNORMAL_UNIT;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const bf16Scratch = new Uint32Array(1);
const bf16View = new Float32Array(bf16Scratch.buffer);

/** One bfloat16 (as its 16 bits) to f32: it is the upper half of an f32, so this is exact. */
export function bf16ToF32(bits: number): number {
  bf16Scratch[0] = (bits & 0xffff) << 16;
  return bf16View[0] ?? 0;
}

/**
 * Rounds a number to the nearest f16 (ties to even) and returns its 16 bits. Used for q4 scales,
 * which are rounded to f16 before quantising so that what the shader multiplies by is what the
 * quantiser divided by.
 */
export function f32ToF16(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal range: the unit is 2^-24, round the multiple to nearest even.
    return sign | roundHalfEven(a / F16_SUBNORMAL_UNIT);
  }
  let exponent = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two; correct so that 2^e <= a < 2^(e+1).
  if (2 ** exponent > a) exponent -= 1;
  else if (2 ** (exponent + 1) <= a) exponent += 1;
  const mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  // A mantissa that rounds up to 1024 carries into the exponent, which the bit addition does for us.
  return sign | (((exponent + 15) << 10) + mantissa);
}

/** Round to nearest, ties to even (numpy's and PyTorch's rule; Math.round sends x.5 up). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Decodes F32/F16/BF16 little-endian element bytes into a new Float32Array. */
export function toFloat32(bytes: Uint8Array, dtype: TensorDtype, name = 'tensor'): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      if (bytes.byteLength % 4 !== 0) throw new CheckpointError(name, 'F32 data length is not a multiple of 4');
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F16':
    case 'BF16': {
      if (bytes.byteLength % 2 !== 0) throw new CheckpointError(name, `${dtype} data length is odd`);
      const out = new Float32Array(bytes.byteLength / 2);
      const decode = dtype === 'F16' ? f16ToF32 : bf16ToF32;
      for (let i = 0; i < out.length; i++) out[i] = decode(view.getUint16(i * 2, true));
      return out;
    }
    default:
      throw new CheckpointError(name, `cannot decode ${dtype} without its scales; dequantise it instead`);
  }
}

/** Encodes f32 values as little-endian f16 bytes (round to nearest even). */
export function encodeF16(values: Float32Array | readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToF16(values[i] ?? 0), true);
  return out;
}

/** The little-endian bytes of an f32 array (a copy, independent of the platform's endianness). */
export function encodeF32(values: Float32Array | readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] ?? 0, true);
  return out;
}
