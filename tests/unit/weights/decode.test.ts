import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../../src/errors.js';
import { bf16ToF32, encodeF16, encodeF32, f16ToF32, f32ToF16, toFloat32 } from '../../../src/weights/decode.js';

describe('f16ToF32', () => {
  it('decodes normal, extreme and special values exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('keeps subnormals as m * 2^-24 instead of flushing them', () => {
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x8200)).toBe(-512 * 2 ** -24);
  });

  it('round-trips every non-NaN f16 bit pattern through f32ToF16', () => {
    let mismatches = 0;
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = f16ToF32(bits);
      if (Number.isNaN(value)) continue;
      if (f32ToF16(value) !== bits) mismatches++;
      if (Math.fround(value) !== value) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

describe('f32ToF16', () => {
  it('rounds to nearest with ties to even', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16(2 - 2 ** -12)).toBe(0x4000);
  });

  it('rounds into and out of the subnormal range and overflows to infinity', () => {
    expect(f32ToF16(2 ** -25)).toBe(0x0000);
    expect(f32ToF16(3 * 2 ** -26)).toBe(0x0001);
    expect(f32ToF16(2 ** -14 - 2 ** -26)).toBe(0x0400);
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(-1e9)).toBe(0xfc00);
  });
});

describe('bf16ToF32', () => {
  it('is the upper half of an f32', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f7f)).toBe(3.3895313892515355e38);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
  });
});

describe('toFloat32', () => {
  it('decodes F32, F16 and BF16 little-endian bytes', () => {
    expect([...toFloat32(encodeF32([1.5, -2, 2 ** -140]), 'F32')]).toEqual([1.5, -2, Math.fround(2 ** -140)]);
    expect([...toFloat32(encodeF16([0.5, -65504, 2 ** -24]), 'F16')]).toEqual([0.5, -65504, 2 ** -24]);
    expect([...toFloat32(new Uint8Array([0x80, 0x3f, 0x40, 0xc0]), 'BF16')]).toEqual([1, -3]);
  });

  it('reads unaligned views', () => {
    const bytes = new Uint8Array(9);
    bytes.set(encodeF32([7.25, -1]), 1);
    expect([...toFloat32(bytes.subarray(1), 'F32')]).toEqual([7.25, -1]);
  });

  it('rejects quantised dtypes and odd lengths, naming the tensor', () => {
    expect(() => toFloat32(new Uint8Array(4), 'Q8', 'w')).toThrow(CheckpointError);
    expect(() => toFloat32(new Uint8Array(3), 'F16', 'odd')).toThrow(/odd/);
  });
});
