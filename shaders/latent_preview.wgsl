// requires: lib/index.wgsl
// Cheap previews during denoising: rgb = latent · F + bias with a 16×3 factor matrix F (row c =
// channel c's contribution to R, G, B) applied to the denoiser-space latent (the sampler's f32
// NCHW [B, C, h, w]), then the image conversion of to_rgba.wgsl (clamp((v+1)/2, 0, 1),
// trunc(255·y)), packed RGBA8 at latent resolution. factors: C·3 values row-major, then 3 biases.

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> latent: array<f32>;
@group(0) @binding(1) var<storage, read> factors: array<f32>;
@group(0) @binding(2) var<storage, read_write> rgba: array<u32>;

struct Params {
  pixels: u32,
  channels: u32,
  batch: u32,
};
@group(0) @binding(3) var<uniform> params: Params;

fn to_byte(v: f32) -> u32 {
  return u32(255.0 * clamp((v + 1.0) / 2.0, 0.0, 1.0));
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.pixels * params.batch) { return; }
  let b = i / params.pixels;
  let p = i % params.pixels;
  let bias_at = params.channels * 3u;
  var rgb = vec3<f32>(factors[bias_at], factors[bias_at + 1u], factors[bias_at + 2u]);
  for (var c = 0u; c < params.channels; c++) {
    let v = latent[(b * params.channels + c) * params.pixels + p];
    rgb += v * vec3<f32>(factors[c * 3u], factors[c * 3u + 1u], factors[c * 3u + 2u]);
  }
  rgba[i] = to_byte(rgb.x) | (to_byte(rgb.y) << 8u) | (to_byte(rgb.z) << 16u) | (255u << 24u);
}
