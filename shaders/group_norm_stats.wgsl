// requires: prelude/<precision>.wgsl
// GroupNorm statistics, first stage: for one row chunk of a map (or of one row band of it), the
// element count, mean and sum of squared deviations (M2) of each (batch item, group), computed in
// two passes over the chunk (f32, no E[x²]−E[x]² cancellation). group_norm_finalize combines the
// chunks of every band exactly (Chan et al.), so statistics span the whole image however it is
// split. Workgroup (group, chunk, batch); partial index part0 + chunk.

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;

struct Params {
  width: u32,
  channels: u32,
  groups: u32,
  row0: u32,
  rows: u32,
  chunk_rows: u32,
  x_row0: u32,
  x_rows: u32,
  part0: u32,
  parts: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> scratch: array<f32, WG>;

fn workgroup_sum(lid: u32, value: f32) -> f32 {
  scratch[lid] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { scratch[lid] += scratch[lid + s]; }
    workgroupBarrier();
  }
  let total = scratch[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let lid = lid3.x;
  let g = wg.x;
  let chunk = wg.y;
  let batch = wg.z;
  let cpg = params.channels / params.groups;
  let first = params.row0 + chunk * params.chunk_rows;
  let rows = min(params.chunk_rows, params.row0 + params.rows - first);
  let count = rows * params.width * cpg;
  let base = (batch * params.x_rows + first - params.x_row0) * params.width * params.channels + g * cpg;

  var sum = 0.0;
  for (var e = lid; e < count; e += WG) {
    sum += f32(x[base + (e / cpg) * params.channels + e % cpg]);
  }
  let mean = workgroup_sum(lid, sum) / f32(count);
  var m2 = 0.0;
  for (var e = lid; e < count; e += WG) {
    let d = f32(x[base + (e / cpg) * params.channels + e % cpg]) - mean;
    m2 = fma(d, d, m2);
  }
  let total_m2 = workgroup_sum(lid, m2);
  if (lid == 0u) {
    let at = ((batch * params.groups + g) * params.parts + params.part0 + chunk) * 4u;
    partials[at] = f32(count);
    partials[at + 1u] = mean;
    partials[at + 2u] = total_m2;
    partials[at + 3u] = 0.0;
  }
}
