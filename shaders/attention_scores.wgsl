// requires: prelude/<precision>.wgsl
// Attention scores for CPU emulation (SwiftShader), the first of three passes (scores, softmax,
// P·V) that replace the online softmax there: S[bh, r, j] = scale·q·k (+ bias, addressed through
// its head and row strides as in attention.wgsl; −3e38 for keys masked by causality and for the
// padding columns up to s_stride) for the query rows
// q_begin … q_begin + rows − 1 of every (batch, head), f32 [B·heads, rows, s_stride]. Built like
// matmul_vec4: each invocation owns 4 queries × 4 keys in named vec4 accumulators and the head
// dimension advances 8 at a time through 16-byte loads; no workgroup memory, no barriers.
// q and k are addressed by rows as in attention.wgsl (vec4: strides and columns multiples of 4).

override HEAD_DIM: u32 = 64u;
override WG: u32 = 64u;
override CAUSAL: bool = false;
override HAS_BIAS: bool = false;

const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> q: array<vec4<act>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<act>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> s: array<vec4<f32>>;

struct Params {
  q_len: u32,
  kv_len: u32,
  scale: f32,
  heads: u32,
  q_begin: u32,
  rows: u32,
  s_stride: u32,
  q_rows: u32,
  q_off: u32,
  q_stride: u32,
  q_col: u32,
  k_rows: u32,
  k_off: u32,
  k_stride: u32,
  k_col: u32,
  bias_head_stride: u32,
  bias_row_stride: u32,
};
@group(0) @binding(4) var<uniform> params: Params;

// Rows and keys past the end repeat the last valid one; their results are never stored.
fn q_base(batch: u32, head: u32, r: u32) -> u32 {
  let row = params.q_begin + min(r, params.rows - 1u);
  return ((batch * params.q_rows + params.q_off + row) * params.q_stride + params.q_col + head * HEAD_DIM) / 4u;
}

fn k_base(batch: u32, head: u32, j: u32) -> u32 {
  let key = min(j, params.kv_len - 1u);
  return ((batch * params.k_rows + params.k_off + key) * params.k_stride + params.k_col + head * HEAD_DIM) / 4u;
}

fn dots(qa: vec4<f32>, qb: vec4<f32>, k0a: vec4<f32>, k0b: vec4<f32>, k1a: vec4<f32>, k1b: vec4<f32>, k2a: vec4<f32>, k2b: vec4<f32>, k3a: vec4<f32>, k3b: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(dot(qa, k0a) + dot(qb, k0b), dot(qa, k1a) + dot(qb, k1b), dot(qa, k2a) + dot(qb, k2b), dot(qa, k3a) + dot(qb, k3b));
}

fn store_row(bh: u32, head: u32, r: u32, j0: u32, acc: vec4<f32>) {
  if (r >= params.rows) { return; }
  let row = params.q_begin + r;
  var v = acc * params.scale;
  let j = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
  if (HAS_BIAS) {
    let bj = min(j, vec4<u32>(params.kv_len - 1u));
    let b0 = head * params.bias_head_stride + row * params.bias_row_stride;
    v += vec4<f32>(bias[b0 + bj.x], bias[b0 + bj.y], bias[b0 + bj.z], bias[b0 + bj.w]);
  }
  var keep = j < vec4<u32>(params.kv_len);
  if (CAUSAL) { keep = keep & (j <= vec4<u32>(row)); }
  s[((bh * params.rows + r) * params.s_stride + j0) / 4u] = select(vec4<f32>(NEG), v, keep);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j0 = gid.x * 4u;
  let r0 = gid.y * 4u;
  let bh = gid.z;
  if (j0 >= params.s_stride || r0 >= params.rows) { return; }
  let batch = bh / params.heads;
  let head = bh % params.heads;
  let qb0 = q_base(batch, head, r0);
  let qb1 = q_base(batch, head, r0 + 1u);
  let qb2 = q_base(batch, head, r0 + 2u);
  let qb3 = q_base(batch, head, r0 + 3u);
  let kb0 = k_base(batch, head, j0);
  let kb1 = k_base(batch, head, j0 + 1u);
  let kb2 = k_base(batch, head, j0 + 2u);
  let kb3 = k_base(batch, head, j0 + 3u);
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  let d4 = HEAD_DIM / 4u;
  // Pairs of vec4 (8 dimensions) per step; an odd vec4 at the end pairs with zeros.
  for (var d = 0u; d < d4; d += 2u) {
    let e = min(d + 1u, d4 - 1u);
    let keep = select(0.0, 1.0, d + 1u < d4);
    let k0a = vec4<f32>(k[kb0 + d]);
    let k0b = vec4<f32>(k[kb0 + e]) * keep;
    let k1a = vec4<f32>(k[kb1 + d]);
    let k1b = vec4<f32>(k[kb1 + e]) * keep;
    let k2a = vec4<f32>(k[kb2 + d]);
    let k2b = vec4<f32>(k[kb2 + e]) * keep;
    let k3a = vec4<f32>(k[kb3 + d]);
    let k3b = vec4<f32>(k[kb3 + e]) * keep;
    c0 += dots(vec4<f32>(q[qb0 + d]), vec4<f32>(q[qb0 + e]), k0a, k0b, k1a, k1b, k2a, k2b, k3a, k3b);
    c1 += dots(vec4<f32>(q[qb1 + d]), vec4<f32>(q[qb1 + e]), k0a, k0b, k1a, k1b, k2a, k2b, k3a, k3b);
    c2 += dots(vec4<f32>(q[qb2 + d]), vec4<f32>(q[qb2 + e]), k0a, k0b, k1a, k1b, k2a, k2b, k3a, k3b);
    c3 += dots(vec4<f32>(q[qb3 + d]), vec4<f32>(q[qb3 + e]), k0a, k0b, k1a, k1b, k2a, k2b, k3a, k3b);
  }
  store_row(bh, head, r0, j0, c0);
  store_row(bh, head, r0 + 1u, j0, c1);
  store_row(bh, head, r0 + 2u, j0, c2);
  store_row(bh, head, r0 + 3u, j0, c3);
}
