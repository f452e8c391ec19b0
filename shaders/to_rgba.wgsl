// requires: prelude/<precision>.wgsl, lib/index.wgsl
// Image conversion as the SD3 reference does it in float32 (TEXT_VAE_SPEC §6): y = clamp((x+1)/2,
// 0, 1), u8 = trunc(255·y) (numpy astype(uint8): truncation, not rounding), packed RGBA8 (R in the
// low byte, alpha 255), one u32 per pixel as ImageData's bytes read little-endian. Rows
// [row0, row0 + rows) of a [B, ·, 3] float view go to the whole-image output [B, height·width].

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<act>;
@group(0) @binding(1) var<storage, read_write> rgba: array<u32>;

struct Params {
  width: u32,
  height: u32,
  row0: u32,
  rows: u32,
  x_row0: u32,
  x_rows: u32,
  batch: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

fn to_byte(v: f32) -> u32 {
  return u32(255.0 * clamp((v + 1.0) / 2.0, 0.0, 1.0));
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
  let src = ((batch * params.x_rows + row - params.x_row0) * params.width + col) * 3u;
  let r = to_byte(f32(x[src]));
  let g = to_byte(f32(x[src + 1u]));
  let b = to_byte(f32(x[src + 2u]));
  rgba[(batch * params.height + row) * params.width + col] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}
