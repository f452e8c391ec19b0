// requires: prelude/<precision>.wgsl
// Attention for CPU emulation (SwiftShader): no workgroup memory and no barriers, which cost more
// than they save there (BASELINES.md). Each invocation owns QR = 4 query rows of one head and
// streams every key once through registers with 16-byte loads, keeping an online softmax per row,
// so K and V are read once per 4 queries and the L×L scores never exist. Same bindings and Params
// as attention.wgsl; operands are vec4 (head dim, strides and columns multiples of 4).

override HEAD_DIM: u32 = 64u;
override WG: u32 = 64u;
override CAUSAL: bool = false;
override HAS_BIAS: bool = false;

const QR: u32 = 4u;
// Private arrays need a constant size: head dims up to 128 take this path.
const MAX_D4: u32 = 32u;

@group(0) @binding(0) var<storage, read> q: array<vec4<act>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<act>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<act>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<act>>;

struct Params {
  q_len: u32,
  kv_len: u32,
  scale: f32,
  q_rows: u32,
  q_off: u32,
  q_stride: u32,
  q_col: u32,
  k_rows: u32,
  k_off: u32,
  k_stride: u32,
  k_col: u32,
  v_rows: u32,
  v_off: u32,
  v_stride: u32,
  v_col: u32,
  o_rows: u32,
  o_off: u32,
  o_stride: u32,
  o_col: u32,
};
@group(0) @binding(5) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let head = wg.y;
  let batch = wg.z;
  let q0 = gid.x * QR;
  if (q0 >= params.q_len) { return; }
  let d4 = HEAD_DIM / 4u;
  let hcol = head * HEAD_DIM;

  // Queries pre-scaled; rows past the end repeat the last one (never stored).
  var qv: array<array<vec4<f32>, MAX_D4>, QR>;
  for (var r = 0u; r < QR; r++) {
    let row = min(q0 + r, params.q_len - 1u);
    let base = ((batch * params.q_rows + params.q_off + row) * params.q_stride + params.q_col + hcol) / 4u;
    for (var c = 0u; c < d4; c++) { qv[r][c] = vec4<f32>(q[base + c]) * params.scale; }
  }
  var acc: array<array<vec4<f32>, MAX_D4>, QR>;
  var m = vec4<f32>(-3.0e38);
  var l = vec4<f32>(0.0);

  var kv_end = params.kv_len;
  if (CAUSAL) { kv_end = min(kv_end, q0 + QR); }
  for (var key = 0u; key < kv_end; key++) {
    let kb = ((batch * params.k_rows + params.k_off + key) * params.k_stride + params.k_col + hcol) / 4u;
    var s = vec4<f32>(0.0);
    for (var c = 0u; c < d4; c++) {
      let kc = vec4<f32>(k[kb + c]);
      s += vec4<f32>(dot(qv[0][c], kc), dot(qv[1][c], kc), dot(qv[2][c], kc), dot(qv[3][c], kc));
    }
    if (HAS_BIAS) {
      for (var r = 0u; r < QR; r++) {
        let row = min(q0 + r, params.q_len - 1u);
        s[r] += bias[(head * params.q_len + row) * params.kv_len + key];
      }
    }
    if (CAUSAL) {
      for (var r = 0u; r < QR; r++) {
        if (key > q0 + r) { s[r] = -3.0e38; }
      }
    }
    let m_new = max(m, s);
    let correction = exp(m - m_new);
    let p = select(exp(s - m_new), vec4<f32>(0.0), s <= vec4<f32>(-3.0e38));
    l = l * correction + p;
    m = m_new;
    let vb = ((batch * params.v_rows + params.v_off + key) * params.v_stride + params.v_col + hcol) / 4u;
    for (var c = 0u; c < d4; c++) {
      let vc = vec4<f32>(v[vb + c]);
      for (var r = 0u; r < QR; r++) { acc[r][c] = acc[r][c] * correction[r] + p[r] * vc; }
    }
  }

  for (var r = 0u; r < QR; r++) {
    let row = q0 + r;
    if (row >= params.q_len) { break; }
    let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
    let base = ((batch * params.o_rows + params.o_off + row) * params.o_stride + params.o_col + hcol) / 4u;
    for (var c = 0u; c < d4; c++) { out[base + c] = vec4<act>(acc[r][c] * inv); }
  }
}
