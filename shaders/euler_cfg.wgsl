// requires: lib/index.wgsl
// The sampler's update on the GPU (MODEL_SPEC §4), in place on the f32 latent x [B, C, H, W]:
//   START:  x = σ₀·x + (1 − σ₀)·v            (x holds the noise, v the initial latent)
//   step i: x += (σ[i+1] − σ[i]) · v_cfg,   v_cfg = CFG ? v_u + scale·(v_c − v_u) : v
// with i the step state and the velocity batch holding cond rows then uncond rows under CFG.
// Algebraically equal to the reference's denoised/d form; in f32 it avoids dividing by σ.

override WG: u32 = 64u;
override CFG: bool = false;
override START: bool = false;

@group(0) @binding(0) var<storage, read> v: array<f32>;
@group(0) @binding(1) var<storage, read> sigmas: array<f32>;
@group(0) @binding(2) var<storage, read> step: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

struct Params {
  n: u32,
  guidance: f32,
};
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.n) { return; }
  let s = step[0];
  if (START) {
    let s0 = sigmas[s];
    x[i] = s0 * x[i] + (1.0 - s0) * v[i];
    return;
  }
  var vel = v[i];
  if (CFG) {
    let u = v[i + params.n];
    vel = u + params.guidance * (vel - u);
  }
  x[i] = x[i] + (sigmas[s + 1u] - sigmas[s]) * vel;
}
