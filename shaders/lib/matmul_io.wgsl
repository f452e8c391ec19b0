// The bindings and Params of both matmul entry files (matmul.wgsl, matmul_vec4.wgsl), written once
// so the two cannot drift from each other or from the kernel descriptor (src/kernels/matmul.ts).
// The including file names the element types of its x and w reads:
//   alias matmul_x = act;        (or vec4<act>)
//   alias matmul_w = u32;        (or vec4<u32>)
// Needs the precision prelude (`act`).

@group(0) @binding(0) var<storage, read> x: array<matmul_x>;
@group(0) @binding(1) var<storage, read> w: array<matmul_w>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<act>;
@group(0) @binding(5) var<storage, read> residual: array<act>;
@group(0) @binding(6) var<storage, read_write> y: array<act>;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  x_stride: u32,
  x_col: u32,
  x_seg: u32,
  x_seg_rows: u32,
  x_seg_off: u32,
  y_stride: u32,
  y_col: u32,
  y_seg: u32,
  y_seg_rows: u32,
  y_seg_off: u32,
  gate_seg: u32,
  gate_stride: u32,
  gate_col: u32,
  res_stride: u32,
};
@group(0) @binding(7) var<uniform> params: Params;

// Row r of a segmented operand: segments of `seg` rows sit `seg_rows` apart, starting at `off`.
fn seg_row(r: u32, seg: u32, seg_rows: u32, off: u32) -> u32 {
  return (r / seg) * seg_rows + off + r % seg;
}
