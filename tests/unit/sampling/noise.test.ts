import { describe, expect, it } from 'vitest';
import { gaussianNoise, philox4x32 } from '../../../src/sampling/noise.js';

const hex = (a: Uint32Array) => [...a].map((x) => x.toString(16).padStart(8, '0')).join(' ');

describe('Philox4x32-10 noise', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
  });

  it('gives standard normal values, the same for the same seed, different for another', () => {
    const a = gaussianNoise(7, 1, 16 * 64 * 64);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(variance - 1)).toBeLessThan(0.02);
    expect(a.every(Number.isFinite)).toBe(true);
    expect([...gaussianNoise(7, 1, 1000)]).toEqual([...a.subarray(0, 1000)]);
    expect(gaussianNoise(8, 1, 1000)).not.toEqual(a.subarray(0, 1000));
  });

  it("image b of a batch does not depend on the batch size (and needs no multiple of 4)", () => {
    const batch = gaussianNoise(3, 3, 1001);
    expect([...batch.subarray(0, 1001)]).toEqual([...gaussianNoise(3, 1, 1001)]);
    expect(batch.subarray(1001, 2002)).not.toEqual(batch.subarray(0, 1001));
  });

  it('rejects seeds outside u32', () => {
    expect(() => gaussianNoise(-1, 1, 4)).toThrow(/seed/);
    expect(() => gaussianNoise(2 ** 32, 1, 4)).toThrow(/seed/);
  });
});
