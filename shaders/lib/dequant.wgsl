// Weight decoding. Weights are bound as array<u32> whatever their format; these helpers turn
// stored bits into f32 with integer operations only, so f16 subnormals are exact (WGSL allows
// unpack2x16float and f16 arithmetic to flush them, MODEL_SPEC.md §6).

// Storage formats, as W_FORMAT overrides name them (src/tensor/tensor.ts FORMAT_CODE).
const FMT_F32: u32 = 0u;
const FMT_F16: u32 = 1u;
const FMT_BF16: u32 = 2u;
const FMT_Q8: u32 = 3u;
const FMT_Q4: u32 = 4u;

fn f16_bits_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let exponent = (h >> 10u) & 0x1fu;
  let mantissa = h & 0x3ffu;
  if (exponent == 0u) {
    // Zero or subnormal: m · 2^-24, exact in f32.
    let magnitude = f32(mantissa) * 5.9604644775390625e-8;
    return select(magnitude, -magnitude, sign != 0u);
  }
  if (exponent == 31u) {
    return bitcast<f32>(sign | 0x7f800000u | (mantissa << 13u));
  }
  return bitcast<f32>(sign | ((exponent + 112u) << 23u) | (mantissa << 13u));
}

// Half `index` (0 = low bits) of a word holding two 16-bit values.
fn half_of(word: u32, index: u32) -> u32 {
  return (word >> (16u * (index & 1u))) & 0xffffu;
}

fn bf16_bits_to_f32(h: u32) -> f32 {
  return bitcast<f32>(h << 16u);
}

// Signed byte `index` (0 = lowest) of a word of four int8 values.
fn q8_of(word: u32, index: u32) -> f32 {
  return f32(extractBits(bitcast<i32>(word), 8u * (index & 3u), 8u));
}

// Nibble `index` (0 = lowest) of a word of eight int4 values stored as q + 8.
fn q4_of(word: u32, index: u32) -> f32 {
  return f32(i32(extractBits(word, 4u * (index & 7u), 4u)) - 8);
}
