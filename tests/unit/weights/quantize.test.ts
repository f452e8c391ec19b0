import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../src/errors.js';
import { f16ToF32, f32ToF16 } from '../../../src/weights/decode.js';
import {
  checkFormat,
  decodeAs,
  dequantizeQ4,
  dequantizeQ8,
  encodeAs,
  fitsFormat,
  quantizeQ4,
  quantizeQ8,
  relativeL2,
} from '../../../src/weights/quantize.js';
import { randomFloats } from './helpers.js';

const int8 = (b: Uint8Array) => [...new Int8Array(b.buffer, b.byteOffset, b.byteLength)];
const f32s = (b: Uint8Array) => [...new Float32Array(b.slice().buffer)];
const u16s = (b: Uint8Array) => [...new Uint16Array(b.slice().buffer)];

describe('quantizeQ8', () => {
  it('uses an f32 scale of max|w|/127 per output row', () => {
    const q = quantizeQ8(new Float32Array([0.5, -1, 0.25, 0, 2, 2, 2, -2]), 2, 4);
    expect(f32s(q.scales)).toEqual([Math.fround(1 / 127), Math.fround(2 / 127)]);
    expect(int8(q.data)).toEqual([64, -127, 32, 0, 127, 127, 127, -127]);
  });

  it('rounds to nearest with ties to even', () => {
    const q = quantizeQ8(new Float32Array([127, 2.5, 3.5, -2.5, -3.5, 0.49, 0.51, -126.5]), 1, 8);
    expect(f32s(q.scales)).toEqual([1]);
    expect(int8(q.data)).toEqual([127, 2, 4, -2, -4, 0, 1, -126]);
  });

  it('stores an all-zero row as zeros with scale 0', () => {
    const q = quantizeQ8(new Float32Array(4), 1, 4);
    expect(f32s(q.scales)).toEqual([0]);
    expect([...dequantizeQ8(q, 1, 4)]).toEqual([0, 0, 0, 0]);
  });

  it('dequantises within half a step of every weight', () => {
    const w = randomFloats(8 * 64, 3, 0.2);
    const q = quantizeQ8(w, 8, 64);
    const back = dequantizeQ8(q, 8, 64);
    const scales = f32s(q.scales);
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs((back[i] ?? 0) - (w[i] ?? 0))).toBeLessThanOrEqual((scales[Math.floor(i / 64)] ?? 0) * 0.5 + 1e-9);
    }
    expect(relativeL2(w, back)).toBeLessThan(0.01);
  });
});

describe('quantizeQ4', () => {
  it('packs q+8, low nibble first, 8 values per little-endian u32', () => {
    const w = new Float32Array(32);
    w.set([7, -7, 1, 2, -1, 0, 3, -3]);
    const q = quantizeQ4(w, 1, 32);
    expect(u16s(q.scales)).toEqual([0x3c00]);
    expect([...q.data.subarray(0, 4)]).toEqual([0x1f, 0xa9, 0x87, 0x5b]);
    const word = new DataView(q.data.buffer).getUint32(0, true);
    const nibbles = Array.from({ length: 8 }, (_, i) => ((word >>> (4 * i)) & 0xf) - 8);
    expect(nibbles).toEqual([7, -7, 1, 2, -1, 0, 3, -3]);
    expect(q.data.byteLength).toBe(16);
  });

  it('rounds the scale to f16 before dividing by it', () => {
    const max = 0.123456789;
    const w = new Float32Array(32).fill(0);
    w[0] = max;
    w[1] = max * 0.5;
    const q = quantizeQ4(w, 1, 32);
    const bits = f32ToF16(Math.fround(max) / 7);
    expect(u16s(q.scales)).toEqual([bits]);
    const scale = f16ToF32(bits);
    expect(scale).not.toBe(Math.fround(max) / 7);
    expect((q.data[0] ?? 0) & 0xf).toBe(Math.round(Math.fround(max) / scale) + 8);
    expect((q.data[0] ?? 0) >> 4).toBe(Math.round(Math.fround(max * 0.5) / scale) + 8);
  });

  it('uses one scale per group of 32 along K', () => {
    const w = new Float32Array(2 * 64);
    for (let g = 0; g < 4; g++) w[g * 32] = 7 * (g + 1);
    const q = quantizeQ4(w, 2, 64);
    expect(u16s(q.scales).map(f16ToF32)).toEqual([1, 2, 3, 4]);
  });

  it('rounds ties to even', () => {
    const w = new Float32Array(32);
    w.set([7, 2.5, 3.5, -2.5, -0.5, 0.5, 1.5]);
    const back = dequantizeQ4(quantizeQ4(w, 1, 32), 1, 32);
    expect([...back.subarray(0, 7)]).toEqual([7, 2, 4, -2, 0, 0, 2]);
  });

  it('dequantises within half a step of every weight', () => {
    const w = randomFloats(4 * 128, 9, 0.05);
    const q = quantizeQ4(w, 4, 128);
    const back = dequantizeQ4(q, 4, 128);
    const scales = u16s(q.scales).map(f16ToF32);
    for (let i = 0; i < w.length; i++) {
      expect(Math.abs((back[i] ?? 0) - (w[i] ?? 0))).toBeLessThanOrEqual((scales[Math.floor(i / 32)] ?? 0) * 0.5 + 1e-9);
    }
    expect(relativeL2(w, back)).toBeLessThan(0.1);
  });
});

describe('format constraints', () => {
  it('require K % 2 for f16, K % 4 for q8 and K % 32 for q4', () => {
    expect(() => checkFormat('w', [4, 3], 'f16')).toThrow(CheckpointError);
    expect(() => checkFormat('w', [4, 6], 'q8')).toThrow(/multiple of 4/);
    expect(() => checkFormat('w', [4, 48], 'q4')).toThrow(/"w".*multiple of 32/);
    expect(() => checkFormat('b', [64], 'q8')).toThrow(/matrix/);
    expect(() => quantizeQ4(new Float32Array(16), 1, 16)).toThrow(CheckpointError);
    expect(fitsFormat([3], 'f32')).toBe(true);
    expect(fitsFormat([8, 64], 'q4')).toBe(true);
  });

  it('refuse to quantise non-finite weights, naming the tensor', () => {
    expect(() => quantizeQ8(new Float32Array([1, NaN, 0, 0]), 1, 4, 'bad.weight')).toThrow(/"bad\.weight".*non-finite/);
  });
});

describe('encodeAs / decodeAs', () => {
  it('round-trip through every storage format', () => {
    const w = randomFloats(2 * 32, 5);
    for (const format of ['f32', 'f16', 'q8', 'q4'] as const) {
      const { data, scales } = encodeAs(w, [2, 32], format);
      const back = decodeAs(data, scales, [2, 32], format);
      const limit = { f32: 0, f16: 1e-3, q8: 1e-2, q4: 0.12 }[format];
      expect(relativeL2(w, back), format).toBeLessThanOrEqual(limit);
    }
  });
});

describe('relativeL2', () => {
  it('is the norm of the difference over the norm of the reference', () => {
    expect(relativeL2([3, 4], [3, 4])).toBe(0);
    expect(relativeL2([3, 4], [0, 0])).toBe(1);
    expect(relativeL2([0, 0], [0, 0])).toBe(0);
    expect(relativeL2([1, 0], [1, 1])).toBe(1);
  });
});
