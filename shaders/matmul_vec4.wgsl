// requires: prelude/<precision>.wgsl, lib/dequant.wgsl, lib/activations.wgsl, lib/matmul_io.wgsl
// Y = X · Wᵀ (+ bias) (epilogue) for K % 8 == 0 with 16-byte aligned rows, read through vec4
// bindings: one 16-byte load brings 4 activations, or 4 f32 / 8 f16 / 16 int8 / 32 int4 weights.
// For CPU emulation (SwiftShader): every storage access is bounds-checked there, so wide loads
// matter, and private arrays indexed in loops are spilled to memory, so the 4×4 block of each
// invocation lives in four named vec4 accumulators and K advances 8 at a time with named operands
// (measured 5-7× faster than the same block kept in arrays). No workgroup memory. The Params and
// bindings of matmul.wgsl (lib/matmul_io.wgsl), with x and w read as vec4.

override WG_X: u32 = 64u;
override WG_Y: u32 = 1u;
override W_FORMAT: u32 = 0u;
// 0: none, 1: GELU-tanh, 2: gate · y + residual (read at the output's row, so a row chunk
// written into a larger value adds the matching residual rows), 3: SiLU.
override EPILOGUE: u32 = 0u;
override HAS_BIAS: bool = false;
// Rows per invocation: 4, or 2 / 1 for the adaLN, pooled and timestep projections (M ≤ 2), whose
// repeated rows would otherwise double or quadruple the arithmetic (folded away as constants).
override ROWS: u32 = 4u;

// Bindings, Params and seg_row: lib/matmul_io.wgsl.
alias matmul_x = vec4<act>;
alias matmul_w = vec4<u32>;

fn f16x2(word: u32) -> vec2<f32> {
  return f16x2_to_f32(word);
}

fn bf16x2(word: u32) -> vec2<f32> {
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

fn q8x4(word: u32) -> vec4<f32> {
  let s = bitcast<i32>(word);
  return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)), f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

fn q4x4(word: u32) -> vec4<f32> {
  return vec4<f32>(f32(word & 15u), f32((word >> 4u) & 15u), f32((word >> 8u) & 15u), f32((word >> 12u) & 15u)) - 8.0;
}

struct W8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
};

// The 8 weights of row `row` at columns k..k+7 (k a multiple of 8), already scaled.
fn load_w8(row: u32, k: u32) -> W8 {
  let e = row * params.k + k;
  switch W_FORMAT {
    case FMT_F16: {
      let v = w[e / 8u];
      return W8(vec4<f32>(f16x2(v.x), f16x2(v.y)), vec4<f32>(f16x2(v.z), f16x2(v.w)));
    }
    case FMT_BF16: {
      let v = w[e / 8u];
      return W8(vec4<f32>(bf16x2(v.x), bf16x2(v.y)), vec4<f32>(bf16x2(v.z), bf16x2(v.w)));
    }
    case FMT_Q8: {
      let v = w[e / 16u];
      let pair = select(v.xy, v.zw, ((e / 8u) & 1u) == 1u);
      let scale = bitcast<f32>(scales[row]);
      return W8(q8x4(pair.x) * scale, q8x4(pair.y) * scale);
    }
    case FMT_Q4: {
      let word = w[e / 32u][(e / 8u) & 3u];
      let g = e / 32u;
      let scale = f16_bits_to_f32(half_of(scales[g >> 1u], g));
      return W8(q4x4(word) * scale, q4x4(word >> 16u) * scale);
    }
    default: {
      return W8(bitcast<vec4<f32>>(w[e / 4u]), bitcast<vec4<f32>>(w[e / 4u + 1u]));
    }
  }
}

fn row_dots(a0: vec4<f32>, a1: vec4<f32>, b0: W8, b1: W8, b2: W8, b3: W8) -> vec4<f32> {
  return vec4<f32>(
    dot(a0, b0.lo) + dot(a1, b0.hi),
    dot(a0, b1.lo) + dot(a1, b1.hi),
    dot(a0, b2.lo) + dot(a1, b2.hi),
    dot(a0, b3.lo) + dot(a1, b3.hi),
  );
}

fn store_row(row: u32, col0: u32, acc: vec4<f32>) {
  if (row >= params.m) { return; }
  let out_row = seg_row(row, params.y_seg, params.y_seg_rows, params.y_seg_off);
  for (var j = 0u; j < 4u; j++) {
    let col = col0 + j;
    if (col >= params.n) { return; }
    var v = acc[j];
    if (HAS_BIAS) { v += bias[col]; }
    if (EPILOGUE == 1u) {
      v = gelu_tanh(v);
    } else if (EPILOGUE == 2u) {
      let g = f32(gate[(row / params.gate_seg) * params.gate_stride + params.gate_col + col]);
      v = f32(residual[out_row * params.res_stride + col]) + g * v;
    } else if (EPILOGUE == 3u) {
      v = silu(v);
    }
    y[out_row * params.y_stride + params.y_col + col] = act(v);
  }
}

fn x_base(r: u32) -> u32 {
  let row = min(r, params.m - 1u);
  return (seg_row(row, params.x_seg, params.x_seg_rows, params.x_seg_off) * params.x_stride + params.x_col) / 4u;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * ROWS;
  let col0 = gid.x * 4u;
  if (row0 >= params.m || col0 >= params.n) { return; }
  // Rows and columns past the edge repeat the last valid one; their results are never stored.
  let x0 = x_base(row0);
  let x1 = x_base(row0 + 1u);
  let x2 = x_base(row0 + 2u);
  let x3 = x_base(row0 + 3u);
  let last = params.n - 1u;
  let w0 = min(col0, last);
  let w1 = min(col0 + 1u, last);
  let w2 = min(col0 + 2u, last);
  let w3 = min(col0 + 3u, last);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k = 0u; k < params.k; k += 8u) {
    let o = k / 4u;
    let b0 = load_w8(w0, k);
    let b1 = load_w8(w1, k);
    let b2 = load_w8(w2, k);
    let b3 = load_w8(w3, k);
    c0 += row_dots(vec4<f32>(x[x0 + o]), vec4<f32>(x[x0 + o + 1u]), b0, b1, b2, b3);
    if (ROWS > 1u) {
      c1 += row_dots(vec4<f32>(x[x1 + o]), vec4<f32>(x[x1 + o + 1u]), b0, b1, b2, b3);
    }
    if (ROWS > 2u) {
      c2 += row_dots(vec4<f32>(x[x2 + o]), vec4<f32>(x[x2 + o + 1u]), b0, b1, b2, b3);
      c3 += row_dots(vec4<f32>(x[x3 + o]), vec4<f32>(x[x3 + o + 1u]), b0, b1, b2, b3);
    }
  }
  store_row(row0, col0, c0);
  if (ROWS > 1u) { store_row(row0 + 1u, col0, c1); }
  if (ROWS > 2u) {
    store_row(row0 + 2u, col0, c2);
    store_row(row0 + 3u, col0, c3);
  }
}
