// 2-D convolution of NHWC feature maps as an implicit GEMM: Y[p, n] = Σ_k X̂[p, k]·W[n, k]
// (+ bias[n]) (+ residual[p, n]). p is an output pixel of the dispatched row band; k =
// (ky·KSIZE + kx)·cin + c runs over taps and input channels, contiguous in both operands because
// W is stored [cout, KSIZE, KSIZE, cin] (the checkpoint's [cout, cin, kh, kw], reordered once at
// canonicalisation). cin is a multiple of 4, so K is read as vec4 runs that never straddle a tap.
// X̂ reads the input through zero padding, an optional nearest 2× upsample (UPSAMPLE: pixel
// (y, x) of the doubled image is input pixel (y/2, x/2)) and a stride.
// Maps are row views of a whole image: a buffer holds global rows from *_row0 on, *_rows per
// batch item, so one dispatch can read a row band with its halo rows and write a band of the
// output (or a band inside a whole-image buffer).
// With USE_SHARED the workgroup stages K-tiles of both operands in workgroup memory (GPUs);
// without it each invocation walks taps and channels from global memory (CPU emulation, where
// barriers cost more than they save and loads dominate: BASELINES.md).

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TILE_K4: u32 = 4u;
override USE_SHARED: bool = true;
override KSIZE: u32 = 3u;
override UPSAMPLE: bool = false;
override W_FORMAT: u32 = 0u;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;

// Pixels × output channels per invocation (registers: TM vec4 accumulators).
const TM: u32 = 8u;
const TN: u32 = 4u;

@group(0) @binding(0) var<storage, read> x: array<act4>;
@group(0) @binding(1) var<storage, read> w: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> residual: array<act>;
@group(0) @binding(4) var<storage, read_write> y: array<act>;

struct Params {
  in_h: u32,
  in_w: u32,
  cin: u32,
  x_row0: u32,
  x_rows: u32,
  out_w: u32,
  cout: u32,
  out_row0: u32,
  out_rows: u32,
  y_row0: u32,
  y_rows: u32,
  r_row0: u32,
  r_rows: u32,
  stride: u32,
  pad: u32,
  tiles: u32,
};
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> tile_x: array<vec4<f32>, WG_Y * TM * TILE_K4>;
var<workgroup> tile_w: array<vec4<f32>, WG_X * TN * TILE_K4>;

// Four f16 values (low half first) to f32 with integer operations: exact for normals, subnormals,
// infinities and NaNs (f16 arithmetic or unpack2x16float may flush subnormals).
fn f16x4_to_f32(v: vec2<u32>) -> vec4<f32> {
  let h = vec4<u32>(v.x & 0xffffu, v.x >> 16u, v.y & 0xffffu, v.y >> 16u);
  let sign = (h & vec4<u32>(0x8000u)) << vec4<u32>(16u);
  let exponent = h & vec4<u32>(0x7c00u);
  let mantissa = h & vec4<u32>(0x3ffu);
  let normal = bitcast<vec4<f32>>((((h & vec4<u32>(0x7fffu)) << vec4<u32>(13u)) + vec4<u32>(0x38000000u)) | sign);
  let special = bitcast<vec4<f32>>(sign | vec4<u32>(0x7f800000u) | (mantissa << vec4<u32>(13u)));
  let tiny = vec4<f32>(mantissa) * 5.9604644775390625e-8;
  let subnormal = select(tiny, -tiny, sign != vec4<u32>(0u));
  return select(select(normal, special, exponent == vec4<u32>(0x7c00u)), subnormal, exponent == vec4<u32>(0u));
}

fn bf16x4_to_f32(v: vec2<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(vec4<u32>(v.x << 16u, v.x & 0xffff0000u, v.y << 16u, v.y & 0xffff0000u));
}

// W[n, 4·k4 .. 4·k4 + 3].
fn load_w4(n: u32, k4: u32) -> vec4<f32> {
  let i = n * KSIZE * KSIZE * (params.cin / 4u) + k4;
  switch W_FORMAT {
    case 1u: { return f16x4_to_f32(w[i]); }
    case 2u: { return bf16x4_to_f32(w[i]); }
    default: { return bitcast<vec4<f32>>(vec4<u32>(w[2u * i], w[2u * i + 1u])); }
  }
}

// vec4 index of channel 0 of the input pixel under tap (ky, kx) of output pixel p, or -1 where
// the tap falls on padding (or p is past the band).
fn tap_base(batch: u32, p: u32, ky: u32, kx: u32) -> i32 {
  if (p >= params.out_rows * params.out_w) { return -1; }
  let oy = params.out_row0 + p / params.out_w;
  let ox = p % params.out_w;
  let iy = i32(oy * params.stride + ky) - i32(params.pad);
  let ix = i32(ox * params.stride + kx) - i32(params.pad);
  let scale = select(1, 2, UPSAMPLE);
  if (iy < 0 || ix < 0 || iy >= i32(params.in_h) * scale || ix >= i32(params.in_w) * scale) { return -1; }
  let sy = u32(iy / scale);
  let sx = u32(ix / scale);
  return i32(((batch * params.x_rows + sy - params.x_row0) * params.in_w + sx) * (params.cin / 4u));
}

fn load_x4(batch: u32, p: u32, k4: u32) -> vec4<f32> {
  let c4 = params.cin / 4u;
  if (k4 >= KSIZE * KSIZE * c4) { return vec4<f32>(0.0); }
  let tap = k4 / c4;
  let base = tap_base(batch, p, tap / KSIZE, tap % KSIZE);
  if (base < 0) { return vec4<f32>(0.0); }
  return vec4<f32>(x[u32(base) + k4 % c4]);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  // Pixel tiles of all batch items are folded over (y, z) past the per-dimension grid limit.
  let flat = wg.y + wg.z * num.y;
  let batch = flat / params.tiles;
  let tile = flat % params.tiles;
  let p0 = (tile * WG_Y + lid.y) * TM;
  let n0 = (wg.x * WG_X + lid.x) * TN;
  let c4 = params.cin / 4u;
  let k4_total = KSIZE * KSIZE * c4;
  var acc: array<vec4<f32>, TM>;
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }

  if (USE_SHARED) {
    let threads = WG_X * WG_Y;
    let flat_lid = lid.y * WG_X + lid.x;
    let rows_x = WG_Y * TM;
    let rows_w = WG_X * TN;
    let base_p = tile * rows_x;
    let base_n = wg.x * rows_w;
    for (var k0 = 0u; k0 < k4_total; k0 += TILE_K4) {
      for (var e = flat_lid; e < rows_x * TILE_K4; e += threads) {
        tile_x[e] = load_x4(batch, base_p + e / TILE_K4, k0 + e % TILE_K4);
      }
      for (var e = flat_lid; e < rows_w * TILE_K4; e += threads) {
        let n = base_n + e / TILE_K4;
        let k4 = k0 + e % TILE_K4;
        let inside = n < params.cout && k4 < k4_total;
        tile_w[e] = select(vec4<f32>(0.0), load_w4(min(n, params.cout - 1u), min(k4, k4_total - 1u)), inside);
      }
      workgroupBarrier();
      for (var t = 0u; t < TILE_K4; t++) {
        var b: array<vec4<f32>, TN>;
        for (var j = 0u; j < TN; j++) { b[j] = tile_w[(lid.x * TN + j) * TILE_K4 + t]; }
        for (var i = 0u; i < TM; i++) {
          let a = tile_x[(lid.y * TM + i) * TILE_K4 + t];
          acc[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
        }
      }
      workgroupBarrier();
    }
  } else {
    if (p0 >= params.out_rows * params.out_w || n0 >= params.cout) { return; }
    var wrow: array<u32, TN>;
    for (var j = 0u; j < TN; j++) { wrow[j] = min(n0 + j, params.cout - 1u); }
    for (var tap = 0u; tap < KSIZE * KSIZE; tap++) {
      var base: array<u32, TM>;
      var ok: array<bool, TM>;
      for (var i = 0u; i < TM; i++) {
        let at = tap_base(batch, p0 + i, tap / KSIZE, tap % KSIZE);
        ok[i] = at >= 0;
        base[i] = u32(max(at, 0));
      }
      let k_tap = tap * c4;
      for (var c = 0u; c < c4; c++) {
        var b: array<vec4<f32>, TN>;
        for (var j = 0u; j < TN; j++) { b[j] = load_w4(wrow[j], k_tap + c); }
        for (var i = 0u; i < TM; i++) {
          let a = select(vec4<f32>(0.0), vec4<f32>(x[base[i] + c]), ok[i]);
          acc[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
        }
      }
    }
  }

  for (var i = 0u; i < TM; i++) {
    let p = p0 + i;
    if (p >= params.out_rows * params.out_w) { break; }
    let oy = params.out_row0 + p / params.out_w;
    let ox = p % params.out_w;
    let y_at = ((batch * params.y_rows + oy - params.y_row0) * params.out_w + ox) * params.cout;
    let r_at = ((batch * params.r_rows + oy - params.r_row0) * params.out_w + ox) * params.cout;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j;
      if (n >= params.cout) { break; }
      var v = acc[i][j];
      if (HAS_BIAS) { v += bias[n]; }
      if (HAS_RESIDUAL) { v += f32(residual[r_at + n]); }
      y[y_at + n] = act(v);
    }
  }
}
