// requires: prelude/<precision>.wgsl, lib/index.wgsl
// The decoder's input: SD3's process_out on a denoiser-space latent, z = l/scale + shift
// (TEXT_VAE_SPEC §6), read in the sampler's NCHW layout [B, C, h, w] and written as the NHWC map
// [B, h·w, C] the convolutions read. One invocation per output element.

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> latent: array<f32>;
@group(0) @binding(1) var<storage, read_write> z: array<act>;

struct Params {
  pixels: u32,
  channels: u32,
  total: u32,
  scale: f32,
  shift: f32,
};
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.total) { return; }
  let c = i % params.channels;
  let p = (i / params.channels) % params.pixels;
  let b = i / (params.channels * params.pixels);
  z[i] = act(latent[(b * params.channels + c) * params.pixels + p] / params.scale + params.shift);
}
