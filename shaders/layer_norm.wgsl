// requires: prelude/<precision>.wgsl, lib/index.wgsl
// LayerNorm over the last dimension, one workgroup per row, f32 statistics (two passes: mean,
// then the biased variance of the centred values, which stays accurate for large means).
// MODULATE: no affine, then x·(1 + scale) + shift with shift/scale from row floor(row/tokens) of
// `mod` (adaLN, MODEL_SPEC.md §3.5). Otherwise the affine form x·weight + bias (CLIP).

override WG: u32 = 64u;
override MODULATE: bool = true;
// One row per invocation, no workgroup memory or barriers (CPU emulation, where a 64-wide tree
// reduction per row costs more than the arithmetic). Otherwise one workgroup per row.
override SERIAL: bool = false;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> modulation: array<act>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<act>;

struct Params {
  rows: u32,
  cols: u32,
  tokens: u32,
  mod_stride: u32,
  shift_col: u32,
  scale_col: u32,
  eps: f32,
};
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

fn reduce_sum(value: f32, lid: u32) -> f32 {
  partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

fn write_row(row: u32, mean: f32, inv: f32, first: u32, step: u32) {
  let base = row * params.cols;
  let mrow = (row / params.tokens) * params.mod_stride;
  for (var c = first; c < params.cols; c += step) {
    let y = (f32(x[base + c]) - mean) * inv;
    if (MODULATE) {
      let shift = f32(modulation[mrow + params.shift_col + c]);
      let scale = f32(modulation[mrow + params.scale_col + c]);
      out[base + c] = act(y * (1.0 + scale) + shift);
    } else {
      out[base + c] = act(y * weight[c] + bias[c]);
    }
  }
}

fn serial_row(row: u32) {
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = f32(params.cols);
  var sum = 0.0;
  for (var c = 0u; c < params.cols; c++) { sum += f32(x[base + c]); }
  let mean = sum / n;
  var sq = 0.0;
  for (var c = 0u; c < params.cols; c++) {
    let d = f32(x[base + c]) - mean;
    sq += d * d;
  }
  write_row(row, mean, inverseSqrt(sq / n + params.eps), 0u, 1u);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (SERIAL) {
    serial_row(linear_workgroup(wg, num) * WG + lid);
    return;
  }
  let row = linear_workgroup(wg, num);
  // Folded grids may hold a few extra workgroups; they exit together, so barriers stay uniform.
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = f32(params.cols);
  var sum = 0.0;
  for (var c = lid; c < params.cols; c += WG) { sum += f32(x[base + c]); }
  let mean = reduce_sum(sum, lid) / n;
  var sq = 0.0;
  for (var c = lid; c < params.cols; c += WG) {
    let d = f32(x[base + c]) - mean;
    sq += d * d;
  }
  let inv = inverseSqrt(reduce_sum(sq, lid) / n + params.eps);
  write_row(row, mean, inv, lid, WG);
}
