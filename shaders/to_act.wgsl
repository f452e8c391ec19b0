// requires: prelude/<precision>.wgsl, lib/index.wgsl
// dst[i] = act(src[i]) over n elements: f32 values (the text encoders' outputs) into the compute
// precision's activations (an f16 denoiser's context and pooled inputs), converted on the GPU.

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<act>;

struct Params {
  n: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.n) {
    return;
  }
  dst[i] = act(src[i]);
}
