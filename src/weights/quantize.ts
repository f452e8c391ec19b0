import { CheckpointError, InvalidArgumentError } from '../errors.js';
import { compareTensors } from '../tensor/compare.js';
import type { StorageFormat } from '../tensor/tensor.js';
import { bf16ToF32, encodeF16, encodeF32, f16ToF32, f32ToF16, roundHalfEven } from './decode.js';

/**
 * Weight quantisation, done once by the converter; the kernels dequantise in their tile loads.
 * Both schemes are symmetric and exact as specified (DESIGN §9, ISSUE_NOTES issue 4), because the
 * verify limits were measured for exactly these rules — truncating instead of rounding, or
 * swapping nibbles, exceeds them:
 *   q8: per output row r, f32 scale s_r = max|w_r|/127, q = round(w/s_r) ∈ [−127, 127], int8 bytes.
 *   q4: per group g of 32 along K, s_g = f16(max|w_g|/7) rounded to f16 BEFORE dividing (what the
 *       shader multiplies by is what the quantiser divided by), q = clamp(round(w/s_g), −8, 7),
 *       stored q+8 in a nibble, low nibble first, 8 per little-endian u32.
 * Rounding is to nearest with ties to even, as numpy and PyTorch round.
 */

export const Q4_GROUP = 32;

export interface QuantizedTensor {
  readonly format: 'q8' | 'q4';
  /** q8: int8 `[rows, cols]`; q4: packed nibbles, `rows·cols/2` bytes. */
  readonly data: Uint8Array;
  /** Little-endian scales: q8 f32 `[rows]`; q4 f16 `[rows, cols/32]`. */
  readonly scales: Uint8Array;
}

/** The reduction dimension K (last axis) must divide the format's packing (DESIGN §5). */
const K_MULTIPLE: Readonly<Partial<Record<StorageFormat, number>>> = { f16: 2, bf16: 2, q8: 4, q4: Q4_GROUP };

/** Throws CheckpointError when a tensor of this shape cannot be stored in `format`. */
export function checkFormat(name: string, shape: readonly number[], format: StorageFormat): void {
  const multiple = K_MULTIPLE[format] ?? 1;
  const k = shape[shape.length - 1] ?? 1;
  if ((format === 'q8' || format === 'q4') && shape.length < 2) {
    throw new CheckpointError(name, `${format} needs a matrix [N, K]`, 'rank >= 2', `shape ${JSON.stringify(shape)}`);
  }
  if (k % multiple !== 0) {
    throw new CheckpointError(name, `${format} needs the last dimension K to be a multiple of ${multiple}`, `K % ${multiple} == 0`, `K = ${k}`);
  }
}

/** Whether `checkFormat` would accept the tensor. */
export function fitsFormat(shape: readonly number[], format: StorageFormat): boolean {
  try {
    checkFormat('', shape, format);
    return true;
  } catch {
    return false;
  }
}

/** Rows × cols of a matrix view of `shape` (all leading axes fold into rows). */
export function matrixDims(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return [rows, cols];
}

export function quantizeQ8(values: Float32Array, rows: number, cols: number, name = 'tensor'): QuantizedTensor {
  checkSize(values, rows, cols, name);
  checkFormat(name, [rows, cols], 'q8');
  const data = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * cols, (r + 1) * cols);
    const scale = Math.fround(maxAbs(row, name) / 127);
    scales[r] = scale;
    if (scale === 0) continue;
    for (let c = 0; c < cols; c++) data[r * cols + c] = clamp(roundHalfEven((row[c] ?? 0) / scale), -127, 127);
  }
  return { format: 'q8', data: new Uint8Array(data.buffer), scales: encodeF32(scales) };
}

export function quantizeQ4(values: Float32Array, rows: number, cols: number, name = 'tensor'): QuantizedTensor {
  checkSize(values, rows, cols, name);
  checkFormat(name, [rows, cols], 'q4');
  const groups = cols / Q4_GROUP;
  const data = new Uint8Array((rows * cols) / 2);
  const scaleBits = new Uint16Array(rows * groups);
  for (let g = 0; g < rows * groups; g++) {
    const group = values.subarray(g * Q4_GROUP, (g + 1) * Q4_GROUP);
    const bits = f32ToF16(maxAbs(group, name) / 7);
    if ((bits & 0x7c00) === 0x7c00) throw new CheckpointError(name, 'q4 scale overflows f16', '|w| <= 458528', `max |w| = ${maxAbs(group, name)}`);
    scaleBits[g] = bits;
    const scale = f16ToF32(bits);
    for (let i = 0; i < Q4_GROUP; i += 2) {
      const lo = scale === 0 ? 8 : clamp(roundHalfEven((group[i] ?? 0) / scale), -8, 7) + 8;
      const hi = scale === 0 ? 8 : clamp(roundHalfEven((group[i + 1] ?? 0) / scale), -8, 7) + 8;
      data[(g * Q4_GROUP + i) / 2] = lo | (hi << 4);
    }
  }
  const scales = new Uint8Array(scaleBits.length * 2);
  const view = new DataView(scales.buffer);
  scaleBits.forEach((b, i) => view.setUint16(i * 2, b, true));
  return { format: 'q4', data, scales };
}

export function dequantizeQ8(q: QuantizedTensor, rows: number, cols: number): Float32Array {
  const data = new Int8Array(q.data.buffer, q.data.byteOffset, q.data.byteLength);
  const scales = new DataView(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = scales.getFloat32(r * 4, true);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (data[r * cols + c] ?? 0) * s;
  }
  return out;
}

export function dequantizeQ4(q: QuantizedTensor, rows: number, cols: number): Float32Array {
  const scales = new DataView(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows * cols; i++) {
    const byte = q.data[i >> 1] ?? 0;
    const nibble = i % 2 === 0 ? byte & 0xf : byte >> 4;
    out[i] = (nibble - 8) * f16ToF32(scales.getUint16(Math.floor(i / Q4_GROUP) * 2, true));
  }
  return out;
}

/** Quantises or encodes `values` of `shape` as `format`: element bytes plus scales when quantised. */
export function encodeAs(values: Float32Array, shape: readonly number[], format: StorageFormat, name = 'tensor'): { data: Uint8Array; scales?: Uint8Array } {
  checkFormat(name, shape, format);
  const [rows, cols] = matrixDims(shape);
  switch (format) {
    case 'f32':
      return { data: encodeF32(values) };
    case 'f16':
      return { data: encodeF16(values) };
    case 'q8':
      return quantizeQ8(values, rows, cols, name);
    case 'q4':
      return quantizeQ4(values, rows, cols, name);
    default:
      throw new CheckpointError(name, `cannot encode as ${format}`, 'f32, f16, q8 or q4', format);
  }
}

/** The values a stored tensor stands for, for error reports and tests. */
export function decodeAs(data: Uint8Array, scales: Uint8Array | undefined, shape: readonly number[], format: StorageFormat): Float32Array {
  const [rows, cols] = matrixDims(shape);
  if (format === 'q8' || format === 'q4') {
    const q = { format, data, scales: scales ?? new Uint8Array(0) };
    return format === 'q8' ? dequantizeQ8(q, rows, cols) : dequantizeQ4(q, rows, cols);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    if (format === 'f32') out[i] = view.getFloat32(i * 4, true);
    else out[i] = (format === 'f16' ? f16ToF32 : bf16ToF32)(view.getUint16(i * 2, true));
  }
  return out;
}

/** ‖approx − reference‖₂ / ‖reference‖₂ in float64; 0 for two zero tensors. */
export function relativeL2(reference: ArrayLike<number>, approx: ArrayLike<number>): number {
  if (reference.length !== approx.length) throw new InvalidArgumentError('relativeL2 approx length', `${reference.length} (the reference length)`, approx.length);
  return compareTensors(approx, reference).relL2;
}

function maxAbs(values: Float32Array, name: string): number {
  let m = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new CheckpointError(name, 'holds a non-finite value and cannot be quantised', 'finite values', String(v));
    const a = Math.abs(v);
    if (a > m) m = a;
  }
  return m;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function checkSize(values: Float32Array, rows: number, cols: number, name: string): void {
  if (values.length !== rows * cols) throw new CheckpointError(name, 'value count does not match its shape', String(rows * cols), String(values.length));
}
