// requires: prelude/<precision>.wgsl, lib/index.wgsl
// The VAE encoder's input from RGBA8 pixels (one u32 each, R in the low byte): x = 2·(u8/255) − 1
// per colour channel as the SD3 reference converts images (TEXT_VAE_SPEC §6), written as 4
// channels with the fourth 0 (alpha is dropped; the encoder's conv_in weight is padded to 4 input
// channels with zeros at canonicalisation so convolutions read whole vec4s). Rows
// [row0, row0 + rows) of the whole image go to a row view [B, ·, 4].

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> rgba: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<act4>;

struct Params {
  width: u32,
  height: u32,
  row0: u32,
  rows: u32,
  y_row0: u32,
  y_rows: u32,
  batch: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

fn from_byte(v: u32) -> f32 {
  return 2.0 * (f32(v & 0xffu) / 255.0) - 1.0;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  let per_batch = params.rows * params.width;
  if (i >= per_batch * params.batch) { return; }
  let batch = i / per_batch;
  let pixel = i % per_batch;
  let row = params.row0 + pixel / params.width;
  let col = pixel % params.width;
  let p = rgba[(batch * params.height + row) * params.width + col];
  let v = vec4<f32>(from_byte(p), from_byte(p >> 8u), from_byte(p >> 16u), 0.0);
  y[(batch * params.y_rows + row - params.y_row0) * params.width + col] = act4(v);
}
