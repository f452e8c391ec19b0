// requires: prelude/<precision>.wgsl, lib/index.wgsl
// RMS normalisation of column groups, one workgroup per (row, group):
// y = x / sqrt(mean(x²) + eps) · weight[(c div SEGMENT)·GROUP + c mod GROUP] over each group of
// `group` consecutive columns among the first `cols` columns of a row of width `width`.
// QK-norm normalises every 64-column head of q and k with ln_q ‖ ln_k; T5 normalises whole rows.

override WG: u32 = 64u;
override HAS_WEIGHT: bool = true;
// One (row, group) per invocation without workgroup memory or barriers (CPU emulation);
// otherwise one workgroup per (row, group).
override SERIAL: bool = false;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<act>;

struct Params {
  width: u32,
  cols: u32,
  group: u32,
  segment: u32,
  groups_per_row: u32,
  total: u32,
  eps: f32,
};
@group(0) @binding(3) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

fn write_group(index: u32, inv: f32, first: u32, step: u32) {
  let row = index / params.groups_per_row;
  let start = (index % params.groups_per_row) * params.group;
  let base = row * params.width + start;
  for (var c = first; c < params.group; c += step) {
    let col = start + c;
    var y = f32(x[base + c]) * inv;
    if (HAS_WEIGHT) { y *= weight[(col / params.segment) * params.group + col % params.group]; }
    out[row * params.cols + col] = act(y);
  }
}

fn serial_group(index: u32) {
  if (index >= params.total) { return; }
  let base = (index / params.groups_per_row) * params.width + (index % params.groups_per_row) * params.group;
  var sq = 0.0;
  for (var c = 0u; c < params.group; c++) {
    let v = f32(x[base + c]);
    sq += v * v;
  }
  write_group(index, inverseSqrt(sq / f32(params.group) + params.eps), 0u, 1u);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (SERIAL) {
    serial_group(linear_workgroup(wg, num) * WG + lid);
    return;
  }
  let index = linear_workgroup(wg, num);
  // Folded grids may hold a few extra workgroups; they exit together, so barriers stay uniform.
  if (index >= params.total) { return; }
  let row = index / params.groups_per_row;
  let first = (index % params.groups_per_row) * params.group;
  let base = row * params.width + first;
  var sq = 0.0;
  for (var c = lid; c < params.group; c += WG) {
    let v = f32(x[base + c]);
    sq += v * v;
  }
  partial[lid] = sq;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(partial[0] / f32(params.group) + params.eps);
  write_group(index, inv, lid, WG);
}
