// requires: prelude/<precision>.wgsl, lib/dequant.wgsl, lib/activations.wgsl, lib/matmul_io.wgsl
// Y = X · Wᵀ (+ bias) (epilogue), X [M, K] activations, W [N, K] weights in any storage format.
// Rows of X and Y may be gathered/scattered by segment (joint text+image sequences: a stream's
// rows land at an offset inside each batch item's joint rows). Each invocation computes a 4×4
// block; with USE_SHARED the workgroup stages K-tiles of both operands in workgroup memory (GPUs);
// without it every invocation reads global memory directly (CPU emulation, where barriers cost
// more than they save: BASELINES.md).

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TILE_K: u32 = 16u;
override USE_SHARED: bool = true;
override W_FORMAT: u32 = 0u;
// 0: none, 1: GELU-tanh, 2: gate · y + residual (read at the output's row, so a row chunk
// written into a larger value adds the matching residual rows), 3: SiLU.
override EPILOGUE: u32 = 0u;
override HAS_BIAS: bool = false;

const TM: u32 = 4u;
const TN: u32 = 4u;

// Bindings, Params and seg_row: lib/matmul_io.wgsl.
alias matmul_x = act;
alias matmul_w = u32;

var<workgroup> tile_x: array<f32, WG_Y * TM * TILE_K>;
var<workgroup> tile_w: array<f32, WG_X * TN * TILE_K>;

fn load_x(row: u32, col: u32) -> f32 {
  if (row >= params.m || col >= params.k) { return 0.0; }
  let r = seg_row(row, params.x_seg, params.x_seg_rows, params.x_seg_off);
  return f32(x[r * params.x_stride + params.x_col + col]);
}

fn load_w(row: u32, col: u32) -> f32 {
  if (row >= params.n || col >= params.k) { return 0.0; }
  let i = row * params.k + col;
  switch W_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(w[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(w[i >> 1u], i)); }
    case FMT_Q8: { return q8_of(w[i >> 2u], i) * bitcast<f32>(scales[row]); }
    case FMT_Q4: {
      let g = row * (params.k / 32u) + col / 32u;
      return q4_of(w[i >> 3u], i) * f16_bits_to_f32(half_of(scales[g >> 1u], g));
    }
    default: { return bitcast<f32>(w[i]); }
  }
}

// Four consecutive weights of row `row` from column `col` (a multiple of 4). The format's K
// constraint (f16/bf16 K%2, q8 K%4, q4 K%32) keeps every word read here inside the row.
fn load_w4(row: u32, col: u32) -> vec4<f32> {
  let i = row * params.k + col;
  switch W_FORMAT {
    case FMT_F16, FMT_BF16: {
      let w0 = w[i >> 1u];
      let w1 = w[(i >> 1u) + 1u];
      if (W_FORMAT == FMT_F16) {
        return vec4<f32>(f16_bits_to_f32(w0 & 0xffffu), f16_bits_to_f32(w0 >> 16u), f16_bits_to_f32(w1 & 0xffffu), f16_bits_to_f32(w1 >> 16u));
      }
      return vec4<f32>(bitcast<f32>(w0 << 16u), bitcast<f32>(w0 & 0xffff0000u), bitcast<f32>(w1 << 16u), bitcast<f32>(w1 & 0xffff0000u));
    }
    case FMT_Q8: {
      let word = bitcast<i32>(w[i >> 2u]);
      let q = vec4<f32>(f32(extractBits(word, 0u, 8u)), f32(extractBits(word, 8u, 8u)), f32(extractBits(word, 16u, 8u)), f32(extractBits(word, 24u, 8u)));
      return q * bitcast<f32>(scales[row]);
    }
    case FMT_Q4: {
      let word = w[i >> 3u] >> (4u * (i & 7u));
      let q = vec4<f32>(f32(word & 15u), f32((word >> 4u) & 15u), f32((word >> 8u) & 15u), f32((word >> 12u) & 15u)) - 8.0;
      let g = row * (params.k / 32u) + col / 32u;
      return q * f16_bits_to_f32(half_of(scales[g >> 1u], g));
    }
    default: {
      return vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u]));
    }
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = (wg.y * WG_Y + lid.y) * TM;
  let col0 = (wg.x * WG_X + lid.x) * TN;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }

  if (USE_SHARED) {
    let threads = WG_X * WG_Y;
    let flat = lid.y * WG_X + lid.x;
    let tile_rows_x = WG_Y * TM;
    let tile_rows_w = WG_X * TN;
    let base_row = wg.y * tile_rows_x;
    let base_col = wg.x * tile_rows_w;
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
      for (var e = flat; e < tile_rows_x * TILE_K; e += threads) {
        tile_x[e] = load_x(base_row + e / TILE_K, k0 + e % TILE_K);
      }
      for (var e = flat; e < tile_rows_w * TILE_K; e += threads) {
        tile_w[e] = load_w(base_col + e / TILE_K, k0 + e % TILE_K);
      }
      workgroupBarrier();
      for (var kk = 0u; kk < TILE_K; kk++) {
        var a: array<f32, 4>;
        var b: array<f32, 4>;
        for (var i = 0u; i < TM; i++) { a[i] = tile_x[(lid.y * TM + i) * TILE_K + kk]; }
        for (var j = 0u; j < TN; j++) { b[j] = tile_w[(lid.x * TN + j) * TILE_K + kk]; }
        for (var i = 0u; i < TM; i++) {
          for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]); }
        }
      }
      workgroupBarrier();
    }
  } else {
    if (row0 >= params.m || col0 >= params.n) { return; }
    // Row and column bases are hoisted out of the K loop; rows and columns past the edge repeat
    // the last valid one (their results are never stored), so the loop has no bounds checks.
    var xb: array<u32, 4>;
    var wr: array<u32, 4>;
    for (var i = 0u; i < TM; i++) {
      let r = min(row0 + i, params.m - 1u);
      xb[i] = seg_row(r, params.x_seg, params.x_seg_rows, params.x_seg_off) * params.x_stride + params.x_col;
    }
    for (var j = 0u; j < TN; j++) { wr[j] = min(col0 + j, params.n - 1u); }
    let k4 = params.k & ~3u;
    for (var kk = 0u; kk < k4; kk += 4u) {
      var a: array<vec4<f32>, 4>;
      for (var i = 0u; i < TM; i++) {
        let at = xb[i] + kk;
        a[i] = vec4<f32>(f32(x[at]), f32(x[at + 1u]), f32(x[at + 2u]), f32(x[at + 3u]));
      }
      for (var j = 0u; j < TN; j++) {
        let b = load_w4(wr[j], kk);
        for (var i = 0u; i < TM; i++) {
          acc[i * TN + j] += dot(a[i], b);
        }
      }
    }
    for (var kk = k4; kk < params.k; kk++) {
      for (var j = 0u; j < TN; j++) {
        let b = load_w(wr[j], kk);
        for (var i = 0u; i < TM; i++) { acc[i * TN + j] = fma(f32(x[xb[i] + kk]), b, acc[i * TN + j]); }
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row >= params.m) { break; }
    let out_row = seg_row(row, params.y_seg, params.y_seg_rows, params.y_seg_off);
    for (var j = 0u; j < TN; j++) {
      let col = col0 + j;
      if (col >= params.n) { break; }
      var v = acc[i * TN + j];
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
}
