// requires: prelude/<precision>.wgsl, lib/dequant.wgsl
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
// With USE_SHARED the workgroup stages K-tiles of both operands in workgroup memory (GPUs), each
// invocation owning TM × TN outputs; without it each invocation walks taps and channels from
// global memory for DTM × DTN outputs (CPU emulation, where barriers cost more than they save and
// every storage load is a bounds-checked gather: 64 × 8 blocks in private arrays measured 2.3×
// faster on SwiftShader than 8 × 4, and faster than 4 × 8 or 8 × 8 blocks in named registers;
// taking channels 8 at a time halves the accumulator traffic, another 1.4×).

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
override TILE_K4: u32 = 4u;
override USE_SHARED: bool = true;
override KSIZE: u32 = 3u;
override UPSAMPLE: bool = false;
override W_FORMAT: u32 = 0u;
override HAS_BIAS: bool = false;
override HAS_RESIDUAL: bool = false;

// Pixels × output channels per invocation: shared-memory path, then direct path.
const TM: u32 = 8u;
const TN: u32 = 4u;
const DTM: u32 = 64u;
const DTN: u32 = 8u;

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
  batch: u32,
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

// W[n, 4·k4 .. 4·k4 + 3] is vec4 number n·K/4 + k4.
fn load_w4(n: u32, k4: u32) -> vec4<f32> {
  return load_w4_at(n * KSIZE * KSIZE * (params.cin / 4u) + k4);
}

fn load_w4_at(i: u32) -> vec4<f32> {
  switch W_FORMAT {
    case FMT_F16: { return f16x4_to_f32(w[i]); }
    case FMT_BF16: { return bf16x4_to_f32(w[i]); }
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
  // The folded grid's last slice overhangs; whole workgroups leave (uniformly, before barriers).
  if (batch >= params.batch) { return; }
  if (USE_SHARED) {
    shared_tiles(batch, tile, wg.x, lid.x, lid.y);
  } else {
    direct(batch, (tile * WG_Y + lid.y) * DTM, (wg.x * WG_X + lid.x) * DTN);
  }
}

fn store(batch: u32, p: u32, n: u32, value: f32) {
  let oy = params.out_row0 + p / params.out_w;
  let ox = p % params.out_w;
  var v = value;
  if (HAS_BIAS) { v += bias[n]; }
  if (HAS_RESIDUAL) { v += f32(residual[((batch * params.r_rows + oy - params.r_row0) * params.out_w + ox) * params.cout + n]); }
  y[((batch * params.y_rows + oy - params.y_row0) * params.out_w + ox) * params.cout + n] = act(v);
}

fn shared_tiles(batch: u32, tile: u32, group: u32, lx: u32, ly: u32) {
  let k4_total = KSIZE * KSIZE * (params.cin / 4u);
  let threads = WG_X * WG_Y;
  let flat_lid = ly * WG_X + lx;
  let rows_x = WG_Y * TM;
  let rows_w = WG_X * TN;
  let base_p = tile * rows_x;
  let base_n = group * rows_w;
  var acc: array<vec4<f32>, TM>;
  for (var i = 0u; i < TM; i++) { acc[i] = vec4<f32>(0.0); }
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
      for (var j = 0u; j < TN; j++) { b[j] = tile_w[(lx * TN + j) * TILE_K4 + t]; }
      for (var i = 0u; i < TM; i++) {
        let a = tile_x[(ly * TM + i) * TILE_K4 + t];
        acc[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
      }
    }
    workgroupBarrier();
  }
  let p0 = base_p + ly * TM;
  let n0 = base_n + lx * TN;
  for (var i = 0u; i < TM; i++) {
    if (p0 + i >= params.out_rows * params.out_w) { break; }
    for (var j = 0u; j < TN; j++) {
      if (n0 + j >= params.cout) { break; }
      store(batch, p0 + i, n0 + j, acc[i][j]);
    }
  }
}

fn direct(batch: u32, p0: u32, n0: u32) {
  let npix = params.out_rows * params.out_w;
  if (p0 >= npix || n0 >= params.cout) { return; }
  let c4 = params.cin / 4u;
  var wrow: array<u32, DTN>;
  for (var j = 0u; j < DTN; j++) { wrow[j] = min(n0 + j, params.cout - 1u) * KSIZE * KSIZE * c4; }
  // Output pixel coordinates, moved to the input grid (stride, padding) once.
  var py: array<i32, DTM>;
  var px: array<i32, DTM>;
  for (var i = 0u; i < DTM; i++) {
    let p = min(p0 + i, npix - 1u);
    py[i] = i32((params.out_row0 + p / params.out_w) * params.stride) - i32(params.pad);
    px[i] = i32((p % params.out_w) * params.stride) - i32(params.pad);
  }
  let scale = select(1, 2, UPSAMPLE);
  let lim_y = i32(params.in_h) * scale;
  let lim_x = i32(params.in_w) * scale;
  var lo: array<vec4<f32>, DTM>;
  var hi: array<vec4<f32>, DTM>;
  for (var i = 0u; i < DTM; i++) {
    lo[i] = vec4<f32>(0.0);
    hi[i] = vec4<f32>(0.0);
  }
  for (var ky = 0u; ky < KSIZE; ky++) {
    for (var kx = 0u; kx < KSIZE; kx++) {
      var base: array<u32, DTM>;
      var ok: array<bool, DTM>;
      for (var i = 0u; i < DTM; i++) {
        let iy = py[i] + i32(ky);
        let ix = px[i] + i32(kx);
        ok[i] = iy >= 0 && ix >= 0 && iy < lim_y && ix < lim_x;
        let sy = u32(max(iy, 0) / scale);
        let sx = u32(max(ix, 0) / scale);
        base[i] = select(0u, ((batch * params.x_rows + sy - params.x_row0) * params.in_w + sx) * c4, ok[i]);
      }
      let k_tap = (ky * KSIZE + kx) * c4;
      var c = 0u;
      for (; c + 2u <= c4; c += 2u) {
        var b: array<vec4<f32>, DTN>;
        var e: array<vec4<f32>, DTN>;
        for (var j = 0u; j < DTN; j++) {
          b[j] = load_w4_at(wrow[j] + k_tap + c);
          e[j] = load_w4_at(wrow[j] + k_tap + c + 1u);
        }
        for (var i = 0u; i < DTM; i++) {
          let a = select(vec4<f32>(0.0), vec4<f32>(x[base[i] + c]), ok[i]);
          let a2 = select(vec4<f32>(0.0), vec4<f32>(x[base[i] + c + 1u]), ok[i]);
          lo[i] += vec4<f32>(dot(a, b[0]) + dot(a2, e[0]), dot(a, b[1]) + dot(a2, e[1]), dot(a, b[2]) + dot(a2, e[2]), dot(a, b[3]) + dot(a2, e[3]));
          hi[i] += vec4<f32>(dot(a, b[4]) + dot(a2, e[4]), dot(a, b[5]) + dot(a2, e[5]), dot(a, b[6]) + dot(a2, e[6]), dot(a, b[7]) + dot(a2, e[7]));
        }
      }
      if (c < c4) {
        var b: array<vec4<f32>, DTN>;
        for (var j = 0u; j < DTN; j++) { b[j] = load_w4_at(wrow[j] + k_tap + c); }
        for (var i = 0u; i < DTM; i++) {
          let a = select(vec4<f32>(0.0), vec4<f32>(x[base[i] + c]), ok[i]);
          lo[i] += vec4<f32>(dot(a, b[0]), dot(a, b[1]), dot(a, b[2]), dot(a, b[3]));
          hi[i] += vec4<f32>(dot(a, b[4]), dot(a, b[5]), dot(a, b[6]), dot(a, b[7]));
        }
      }
    }
  }
  for (var i = 0u; i < DTM; i++) {
    if (p0 + i >= npix) { break; }
    for (var j = 0u; j < DTN; j++) {
      if (n0 + j >= params.cout) { break; }
      store(batch, p0 + i, n0 + j, select(hi[i][j % 4u], lo[i][j % 4u], j < 4u));
    }
  }
}
