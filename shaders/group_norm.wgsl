// requires: prelude/<precision>.wgsl, lib/index.wgsl, lib/activations.wgsl
// GroupNorm application: y = (x − mean)·(rstd·γ) + β per channel, then SiLU when SILU, for the
// rows [row0, row0 + rows) of a map, with the coefficients [B, 3, C] of group_norm_finalize.
// vec4 over channels (a vec4 may span groups: the reduced VAEs have one channel per group, which
// is why the coefficients are per channel). Reads and writes row views (see conv2d.wgsl), so
// bands keep their halo layout.

override WG: u32 = 64u;
override SILU: bool = true;

@group(0) @binding(0) var<storage, read> x: array<act4>;
@group(0) @binding(1) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> y: array<act4>;

struct Params {
  width: u32,
  channels: u32,
  row0: u32,
  rows: u32,
  x_row0: u32,
  x_rows: u32,
  y_row0: u32,
  y_rows: u32,
  batch: u32,
};
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  let c4 = params.channels / 4u;
  let per_batch = params.rows * params.width * c4;
  if (i >= per_batch * params.batch) { return; }
  let batch = i / per_batch;
  let rest = i % per_batch;
  let pixel = rest / c4;
  let c = rest % c4;
  let row = params.row0 + pixel / params.width;
  let col = pixel % params.width;
  let k = batch * 3u * c4 + c;
  let src = ((batch * params.x_rows + row - params.x_row0) * params.width + col) * c4 + c;
  var v = (vec4<f32>(x[src]) - coef[k]) * coef[k + c4] + coef[k + 2u * c4];
  if (SILU) { v = vec4<f32>(silu(v.x), silu(v.y), silu(v.z), silu(v.w)); }
  y[((batch * params.y_rows + row - params.y_row0) * params.width + col) * c4 + c] = act4(v);
}
