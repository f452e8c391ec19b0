import { describe, expect, it } from 'vitest';
import { floatToHalfBits, halfBitsToFloat } from '../../../src/tensor/half.js';

describe('half conversions', () => {
  it('round-trips every finite f16 value exactly, subnormals included', () => {
    for (let h = 0; h < 0x10000; h++) {
      if (((h >> 10) & 0x1f) === 31) continue;
      const v = halfBitsToFloat(h);
      const back = floatToHalfBits(v);
      expect(back === h || (v === 0 && (back & 0x7fff) === 0)).toBe(true);
    }
  });

  it('rounds to nearest even and saturates to infinity', () => {
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalfBits(70000)).toBe(0x7c00);
    expect(floatToHalfBits(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal → 0
    expect(floatToHalfBits(1.5 * 2 ** -24)).toBe(2);
  });
});
