// requires: prelude/<precision>.wgsl, lib/index.wgsl
// dst[row'(r), dst_col + c] = c < src_cols ? src[row(r) + offset(r), src_col + c] : 0
// for r < rows, c < cols. Rows on both sides map through segment layouts (as in matmul.wgsl):
// logical row r is physical row floor(r/seg)·seg_rows + seg_off + r mod seg. Columns at and past
// src_cols are zero-filled (width padding); without HAS_SRC every element is zero.
// OFFSETS adds a row offset read from a u32 buffer: 1 = offsets[r] (per-row gathers such as the
// EOS token of each sequence), 2 = offsets[0]·offset_mul (the step state: row `step` of a table).

override WG: u32 = 64u;
override HAS_SRC: bool = true;
override OFFSETS: u32 = 0u;

@group(0) @binding(0) var<storage, read> src: array<act>;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<act>;

struct Params {
  rows: u32,
  cols: u32,
  src_cols: u32,
  src_stride: u32,
  src_col: u32,
  src_seg: u32,
  src_seg_rows: u32,
  src_seg_off: u32,
  dst_stride: u32,
  dst_col: u32,
  dst_seg: u32,
  dst_seg_rows: u32,
  dst_seg_off: u32,
  offset_mul: u32,
};
@group(0) @binding(3) var<uniform> params: Params;

fn seg_row(r: u32, seg: u32, seg_rows: u32, off: u32) -> u32 {
  return (r / seg) * seg_rows + off + r % seg;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.rows * params.cols) { return; }
  let r = i / params.cols;
  let c = i % params.cols;
  var v = act(0.0);
  if (HAS_SRC && c < params.src_cols) {
    var row = seg_row(r, params.src_seg, params.src_seg_rows, params.src_seg_off);
    if (OFFSETS == 1u) {
      row += offsets[r];
    } else if (OFFSETS == 2u) {
      row += offsets[0] * params.offset_mul;
    }
    v = src[row * params.src_stride + params.src_col + c];
  }
  let out_row = seg_row(r, params.dst_seg, params.dst_seg_rows, params.dst_seg_off);
  dst[out_row * params.dst_stride + params.dst_col + c] = v;
}
