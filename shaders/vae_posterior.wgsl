// requires: prelude/<precision>.wgsl, lib/index.wgsl
// The encoder's diagonal Gaussian posterior (TEXT_VAE_SPEC §6), for rows [row0, row0 + rows) of
// the moments [B, ·, 2C] (a row view): mean = moments[:C], logvar = clamp(moments[C:], −30, 20),
// sample = mean + exp(½·logvar)·noise (HAS_NOISE; else the mean), and the denoiser-space latent
// process_in(sample) = (sample − shift)·scale. Outputs are whole f32 maps in the sampler's NCHW
// layout [B, C, height, width] (noise too).

override WG: u32 = 64u;
override HAS_NOISE: bool = false;

@group(0) @binding(0) var<storage, read> moments: array<act>;
@group(0) @binding(1) var<storage, read> noise: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> logvar_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> latent_out: array<f32>;

struct Params {
  width: u32,
  height: u32,
  channels: u32,
  row0: u32,
  rows: u32,
  x_row0: u32,
  x_rows: u32,
  batch: u32,
  shift: f32,
  scale: f32,
};
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  let per_batch = params.rows * params.width * params.channels;
  if (i >= per_batch * params.batch) { return; }
  let batch = i / per_batch;
  let rest = i % per_batch;
  let pixel = rest / params.channels;
  let c = rest % params.channels;
  let row = params.row0 + pixel / params.width;
  let col = pixel % params.width;
  let src = ((batch * params.x_rows + row - params.x_row0) * params.width + col) * 2u * params.channels + c;
  let mean = f32(moments[src]);
  let logvar = clamp(f32(moments[src + params.channels]), -30.0, 20.0);
  let dst = ((batch * params.channels + c) * params.height + row) * params.width + col;
  var sample = mean;
  if (HAS_NOISE) { sample = fma(exp(0.5 * logvar), noise[dst], mean); }
  mean_out[dst] = mean;
  logvar_out[dst] = logvar;
  latent_out[dst] = (sample - params.shift) * params.scale;
}
