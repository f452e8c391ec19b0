// requires: prelude/<precision>.wgsl, lib/index.wgsl
// Unpatchify (MODEL_SPEC §3.6): z[b, r·w + c, (ky·p + kx)·C + ch] → out[b, ch, r·p + ky, c·p + kx].
// One invocation per output element, so the NCHW writes are contiguous along x. The output is
// f32 whatever the compute precision: it feeds the sampler's update, which stays in f32.

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> z: array<act>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

struct Params {
  batch: u32,
  channels: u32,
  height: u32,
  width: u32,
  patch_size: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  let plane = params.height * params.width;
  if (i >= params.batch * params.channels * plane) { return; }
  let p = params.patch_size;
  let xx = i % params.width;
  let yy = (i / params.width) % params.height;
  let ch = (i / plane) % params.channels;
  let b = i / (plane * params.channels);
  let token = (yy / p) * (params.width / p) + xx / p;
  let col = ((yy % p) * p + xx % p) * params.channels + ch;
  let tokens = plane / (p * p);
  out[i] = f32(z[(b * tokens + token) * p * p * params.channels + col]);
}
