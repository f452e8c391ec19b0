// Weight decoding. Weights are bound as array<u32> whatever their format; these helpers turn
// stored bits into f32 with integer operations only, so f16 subnormals are exact (WGSL allows
// unpack2x16float and f16 arithmetic to flush them, MODEL_SPEC.md §6).

// Storage formats, as W_FORMAT overrides name them (src/tensor/tensor.ts FORMAT_CODE).
const FMT_F32: u32 = 0u;
const FMT_F16: u32 = 1u;
const FMT_BF16: u32 = 2u;
const FMT_Q8: u32 = 3u;
const FMT_Q4: u32 = 4u;

// Branch-free: the normal value is the shifted bits with the exponent rebased (15 → 127, i.e.
// + 112 << 23); the subnormal value m · 2^-24 is exact in f32 and is chosen by select, so no f32
// denormal is ever formed (GPUs may flush those); exponent 31 maps to f32 inf/NaN.
fn f16_bits_to_f32(h: u32) -> f32 {
  let magnitude = h & 0x7fffu;
  let sign = (h & 0x8000u) << 16u;
  let normal = bitcast<f32>(sign | ((magnitude << 13u) + 0x38000000u));
  let special = bitcast<f32>(sign | 0x7f800000u | ((magnitude & 0x3ffu) << 13u));
  let subnormal = bitcast<f32>(sign | bitcast<u32>(f32(magnitude) * 5.9604644775390625e-8));
  return select(select(normal, special, magnitude >= 0x7c00u), subnormal, magnitude < 0x400u);
}

// Two f16 values packed in a word (low half first), decoded as f16_bits_to_f32 does, on vec2.
fn f16x2_to_f32(word: u32) -> vec2<f32> {
  let h = vec2<u32>(word & 0xffffu, word >> 16u);
  let magnitude = h & vec2<u32>(0x7fffu);
  let sign = (h & vec2<u32>(0x8000u)) << vec2<u32>(16u);
  let normal = bitcast<vec2<f32>>(sign | ((magnitude << vec2<u32>(13u)) + vec2<u32>(0x38000000u)));
  let special = bitcast<vec2<f32>>(sign | vec2<u32>(0x7f800000u) | ((magnitude & vec2<u32>(0x3ffu)) << vec2<u32>(13u)));
  let subnormal = bitcast<vec2<f32>>(sign | bitcast<vec2<u32>>(vec2<f32>(magnitude) * 5.9604644775390625e-8));
  return select(select(normal, special, magnitude >= vec2<u32>(0x7c00u)), subnormal, magnitude < vec2<u32>(0x400u));
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
