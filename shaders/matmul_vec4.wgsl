// Y = X · Wᵀ (+ bias) (epilogue) for K % 32 == 0 with 16-byte aligned rows, read through vec4
// bindings: one 16-byte load brings 4 activations, or 4 f32 / 8 f16 / 16 int8 / 32 int4 weights.
// On CPU emulation (SwiftShader) every storage access is bounds-checked, so wide loads are what
// make a matmul fast there; each invocation computes a 4×4 block with no workgroup memory. Same
// Params and bindings as matmul.wgsl (only the element types of x and w differ).

override WG_X: u32 = 64u;
override WG_Y: u32 = 1u;
override W_FORMAT: u32 = 0u;
// 0: none, 1: GELU-tanh, 2: gate · y + residual, 3: SiLU.
override EPILOGUE: u32 = 0u;
override HAS_BIAS: bool = false;

@group(0) @binding(0) var<storage, read> x: array<vec4<act>>;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<act>;
@group(0) @binding(5) var<storage, read> residual: array<act>;
@group(0) @binding(6) var<storage, read_write> y: array<act>;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  x_stride: u32,
  x_col: u32,
  x_seg: u32,
  x_seg_rows: u32,
  x_seg_off: u32,
  y_stride: u32,
  y_col: u32,
  y_seg: u32,
  y_seg_rows: u32,
  y_seg_off: u32,
  gate_seg: u32,
  gate_stride: u32,
  gate_col: u32,
  res_stride: u32,
};
@group(0) @binding(7) var<uniform> params: Params;

fn seg_row(r: u32, seg: u32, seg_rows: u32, off: u32) -> u32 {
  return (r / seg) * seg_rows + off + r % seg;
}

fn f16x2(word: u32) -> vec2<f32> {
  return vec2<f32>(f16_bits_to_f32(word & 0xffffu), f16_bits_to_f32(word >> 16u));
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

// The 32 weights of row `row` at columns k0..k0+31, as eight vec4 (already scaled).
fn load_w32(row: u32, k0: u32) -> array<vec4<f32>, 8> {
  var out: array<vec4<f32>, 8>;
  let e = row * params.k + k0;
  switch W_FORMAT {
    case 1u, 2u: {
      for (var s = 0u; s < 4u; s++) {
        let v = w[e / 8u + s];
        if (W_FORMAT == 1u) {
          out[2u * s] = vec4<f32>(f16x2(v.x), f16x2(v.y));
          out[2u * s + 1u] = vec4<f32>(f16x2(v.z), f16x2(v.w));
        } else {
          out[2u * s] = vec4<f32>(bf16x2(v.x), bf16x2(v.y));
          out[2u * s + 1u] = vec4<f32>(bf16x2(v.z), bf16x2(v.w));
        }
      }
    }
    case 3u: {
      let scale = bitcast<f32>(scales[row]);
      for (var s = 0u; s < 2u; s++) {
        let v = w[e / 16u + s];
        out[4u * s] = q8x4(v.x) * scale;
        out[4u * s + 1u] = q8x4(v.y) * scale;
        out[4u * s + 2u] = q8x4(v.z) * scale;
        out[4u * s + 3u] = q8x4(v.w) * scale;
      }
    }
    case 4u: {
      let g = row * (params.k / 32u) + k0 / 32u;
      let scale = f16_bits_to_f32(half_of(scales[g >> 1u], g));
      let v = w[e / 32u];
      out[0] = q4x4(v.x) * scale;
      out[1] = q4x4(v.x >> 16u) * scale;
      out[2] = q4x4(v.y) * scale;
      out[3] = q4x4(v.y >> 16u) * scale;
      out[4] = q4x4(v.z) * scale;
      out[5] = q4x4(v.z >> 16u) * scale;
      out[6] = q4x4(v.w) * scale;
      out[7] = q4x4(v.w >> 16u) * scale;
    }
    default: {
      for (var s = 0u; s < 8u; s++) { out[s] = bitcast<vec4<f32>>(w[e / 4u + s]); }
    }
  }
  return out;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= params.m || col0 >= params.n) { return; }
  // Rows and columns past the edge repeat the last valid one; their results are never stored.
  var xb: array<u32, 4>;
  var wr: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    let r = min(row0 + i, params.m - 1u);
    xb[i] = (seg_row(r, params.x_seg, params.x_seg_rows, params.x_seg_off) * params.x_stride + params.x_col) / 4u;
    wr[i] = min(col0 + i, params.n - 1u);
  }
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < params.k; k0 += 32u) {
    var a: array<array<vec4<f32>, 8>, 4>;
    for (var i = 0u; i < 4u; i++) {
      for (var s = 0u; s < 8u; s++) { a[i][s] = vec4<f32>(x[xb[i] + k0 / 4u + s]); }
    }
    for (var j = 0u; j < 4u; j++) {
      let b = load_w32(wr[j], k0);
      for (var i = 0u; i < 4u; i++) {
        var sum = 0.0;
        for (var s = 0u; s < 8u; s++) { sum += dot(a[i][s], b[s]); }
        acc[i][j] += sum;
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + i;
    if (row >= params.m) { break; }
    let out_row = seg_row(row, params.y_seg, params.y_seg_rows, params.y_seg_off);
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + j;
      if (col >= params.n) { break; }
      var v = acc[i][j];
      if (HAS_BIAS) { v += bias[col]; }
      if (EPILOGUE == 1u) {
        v = gelu_tanh(v);
      } else if (EPILOGUE == 2u) {
        let g = f32(gate[(row / params.gate_seg) * params.gate_stride + params.gate_col + col]);
        v = f32(residual[row * params.res_stride + col]) + g * v;
      } else if (EPILOGUE == 3u) {
        v = silu(v);
      }
      y[out_row * params.y_stride + params.y_col + col] = act(v);
    }
  }
}
