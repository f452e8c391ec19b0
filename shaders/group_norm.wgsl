// GroupNorm application: y = (x − mean_g)·rstd_g·γ_c + β_c, then SiLU when SILU, for the rows
// [row0, row0 + rows) of a map, with (mean, rstd) per (batch, group) from group_norm_finalize.
// vec4 over channels (a vec4 may span groups: the reduced VAEs have one channel per group).
// Reads and writes row views (see conv2d.wgsl), so bands keep their halo layout.

override WG: u32 = 64u;
override SILU: bool = true;

@group(0) @binding(0) var<storage, read> x: array<act4>;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<act4>;

struct Params {
  width: u32,
  channels: u32,
  groups: u32,
  row0: u32,
  rows: u32,
  x_row0: u32,
  x_rows: u32,
  y_row0: u32,
  y_rows: u32,
  batch: u32,
};
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  let c4 = params.channels / 4u;
  let per_batch = params.rows * params.width * c4;
  if (i >= per_batch * params.batch) { return; }
  let batch = i / per_batch;
  let rest = i % per_batch;
  let pixel = rest / c4;
  let c = (rest % c4) * 4u;
  let row = params.row0 + pixel / params.width;
  let col = pixel % params.width;
  let cpg = params.channels / params.groups;
  var mean: vec4<f32>;
  var rstd: vec4<f32>;
  for (var k = 0u; k < 4u; k++) {
    let at = (batch * params.groups + (c + k) / cpg) * 2u;
    mean[k] = stats[at];
    rstd[k] = stats[at + 1u];
  }
  let src = ((batch * params.x_rows + row - params.x_row0) * params.width + col) * c4 + c / 4u;
  let gain = vec4<f32>(gamma[c], gamma[c + 1u], gamma[c + 2u], gamma[c + 3u]);
  let shift = vec4<f32>(beta[c], beta[c + 1u], beta[c + 2u], beta[c + 3u]);
  var v = (vec4<f32>(x[src]) - mean) * rstd * gain + shift;
  if (SILU) { v = vec4<f32>(silu(v.x), silu(v.y), silu(v.z), silu(v.w)); }
  let dst = ((batch * params.y_rows + row - params.y_row0) * params.width + col) * c4 + c / 4u;
  y[dst] = act4(v);
}
