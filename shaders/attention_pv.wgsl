// requires: prelude/<precision>.wgsl
// The third pass of attention on CPU emulation: O = P·V for the query rows of one chunk, with P
// the softmax-normalised f32 scores [B·heads, rows, s_stride] (zero in the padding columns).
// Each invocation owns 4 query rows × 8 output dimensions in named vec4 accumulators and advances
// 4 keys per step (4 loads of P and 8 of V for 32 vec4 multiply-adds); no workgroup memory.
// v and out are addressed by rows as in attention.wgsl (vec4; HEAD_DIM a multiple of 4: with an
// odd number of vec4 the last invocation of a row computes its second vec4 twice and stores one).

override HEAD_DIM: u32 = 64u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> p: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> v: array<vec4<act>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<act>>;

struct Params {
  kv_len: u32,
  heads: u32,
  q_begin: u32,
  rows: u32,
  s_stride: u32,
  v_rows: u32,
  v_off: u32,
  v_stride: u32,
  v_col: u32,
  o_rows: u32,
  o_off: u32,
  o_stride: u32,
  o_col: u32,
};
@group(0) @binding(3) var<uniform> params: Params;

fn p_base(bh: u32, r: u32) -> u32 {
  return (bh * params.rows + min(r, params.rows - 1u)) * (params.s_stride / 4u);
}

// Keys past the end (whose P is zero) repeat the last key.
fn v_at(batch: u32, j: u32, col4: u32) -> vec4<f32> {
  let key = min(j, params.kv_len - 1u);
  return vec4<f32>(v[(batch * params.v_rows + params.v_off + key) * (params.v_stride / 4u) + col4]);
}

fn store_row(batch: u32, head: u32, r: u32, d4: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (r >= params.rows) { return; }
  let row = params.q_begin + r;
  let base = ((batch * params.o_rows + params.o_off + row) * params.o_stride + params.o_col + head * HEAD_DIM) / 4u + d4;
  out[base] = vec4<act>(lo);
  if (d4 + 1u < HEAD_DIM / 4u) { out[base + 1u] = vec4<act>(hi); }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.x * 4u;
  let d4 = gid.y * 2u;
  let bh = gid.z;
  if (r0 >= params.rows || d4 >= HEAD_DIM / 4u) { return; }
  let batch = bh / params.heads;
  let head = bh % params.heads;
  let col4 = (params.v_col + head * HEAD_DIM) / 4u + d4;
  let col4b = col4 + select(0u, 1u, d4 + 1u < HEAD_DIM / 4u);
  let pb0 = p_base(bh, r0);
  let pb1 = p_base(bh, r0 + 1u);
  let pb2 = p_base(bh, r0 + 2u);
  let pb3 = p_base(bh, r0 + 3u);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0);
  var b1 = vec4<f32>(0.0);
  var b2 = vec4<f32>(0.0);
  var b3 = vec4<f32>(0.0);
  let n4 = params.s_stride / 4u;
  for (var c = 0u; c < n4; c++) {
    let j = c * 4u;
    let v0 = v_at(batch, j, col4);
    let w0 = v_at(batch, j, col4b);
    let v1 = v_at(batch, j + 1u, col4);
    let w1 = v_at(batch, j + 1u, col4b);
    let v2 = v_at(batch, j + 2u, col4);
    let w2 = v_at(batch, j + 2u, col4b);
    let v3 = v_at(batch, j + 3u, col4);
    let w3 = v_at(batch, j + 3u, col4b);
    let p0 = p[pb0 + c];
    let p1 = p[pb1 + c];
    let p2 = p[pb2 + c];
    let p3 = p[pb3 + c];
    a0 += p0.x * v0 + p0.y * v1 + p0.z * v2 + p0.w * v3;
    b0 += p0.x * w0 + p0.y * w1 + p0.z * w2 + p0.w * w3;
    a1 += p1.x * v0 + p1.y * v1 + p1.z * v2 + p1.w * v3;
    b1 += p1.x * w0 + p1.y * w1 + p1.z * w2 + p1.w * w3;
    a2 += p2.x * v0 + p2.y * v1 + p2.z * v2 + p2.w * v3;
    b2 += p2.x * w0 + p2.y * w1 + p2.z * w2 + p2.w * w3;
    a3 += p3.x * v0 + p3.y * v1 + p3.z * v2 + p3.w * v3;
    b3 += p3.x * w0 + p3.y * w1 + p3.z * w2 + p3.w * w3;
  }
  store_row(batch, head, r0, d4, a0, b0);
  store_row(batch, head, r0 + 1u, d4, a1, b1);
  store_row(batch, head, r0 + 2u, d4, a2, b2);
  store_row(batch, head, r0 + 3u, d4, a3, b3);
}
