// requires: prelude/<precision>.wgsl, lib/index.wgsl, lib/activations.wgsl
// out[i] = op(a[i], b[i mod b_period]) over n elements; b broadcasts along rows when its period
// is a row length (per-channel scales), or is absent (unary ops).
// OP: 0 copy, 1 silu, 2 gelu_tanh, 3 quick_gelu, 4 gelu_erf, 5 add, 6 mul, 7 alpha·a + beta.

override WG: u32 = 64u;
override OP: u32 = 0u;

@group(0) @binding(0) var<storage, read> a: array<act>;
@group(0) @binding(1) var<storage, read> b: array<act>;
@group(0) @binding(2) var<storage, read_write> out: array<act>;

struct Params {
  n: u32,
  b_period: u32,
  alpha: f32,
  beta: f32,
};
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.n) { return; }
  let x = f32(a[i]);
  var r: f32;
  switch OP {
    case 1u: { r = silu(x); }
    case 2u: { r = gelu_tanh(x); }
    case 3u: { r = quick_gelu(x); }
    case 4u: { r = gelu_erf(x); }
    case 5u: { r = x + f32(b[i % params.b_period]); }
    case 6u: { r = x * f32(b[i % params.b_period]); }
    case 7u: { r = params.alpha * x + params.beta; }
    default: { r = x; }
  }
  out[i] = act(r);
}
