// requires: none
// The second pass of attention on CPU emulation: each row of the f32 scores [rows, s_stride] is
// replaced in place by its softmax (max, exp, sum, scale; the −3e38 of masked and padding columns
// become exact zeros). One invocation per row, serial over the row with vec4 loads: no workgroup
// memory, no barriers (BASELINES.md).

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> s: array<vec4<f32>>;

struct Params {
  total_rows: u32,
  s_stride: u32,
};
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let row = gid.y * groups.x * WG + gid.x;
  if (row >= params.total_rows) { return; }
  let n4 = params.s_stride / 4u;
  let base = row * n4;
  var m = vec4<f32>(-3.0e38);
  for (var c = 0u; c < n4; c++) { m = max(m, s[base + c]); }
  let mx = max(max(m.x, m.y), max(m.z, m.w));
  var sum = vec4<f32>(0.0);
  for (var c = 0u; c < n4; c++) {
    let e = exp(s[base + c] - mx);
    s[base + c] = e;
    sum += e;
  }
  let total = (sum.x + sum.y + sum.z) + sum.w;
  for (var c = 0u; c < n4; c++) { s[base + c] = s[base + c] / total; }
}
