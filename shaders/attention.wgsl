// requires: prelude/<precision>.wgsl
// Flash-style attention: O = softmax(scale·Q·Kᵀ + bias (+ causal mask)) · V per (batch, head),
// the bias read at head·bias_head_stride + query·bias_row_stride + key (zero strides broadcast it),
// streaming K/V tiles through workgroup memory with an online softmax, so the L×L score matrix
// never exists. A workgroup owns BQ query rows of one head; each row has T threads, each owning
// HEAD_DIM/T output dimensions (at most 16, hence the fixed private accumulator).
// Operands are addressed by rows: element (b, t, h, d) of an operand is at
// (b·rows_per_batch + row_off + t)·stride + col + h·HEAD_DIM + d, so q, k and v can be column
// slices of one fused qkv buffer and a stream's rows can sit inside a joint sequence.

override HEAD_DIM: u32 = 64u;
override T: u32 = 4u;          // threads per query row
override BQ: u32 = 16u;        // query rows per workgroup (BQ·T = 64 threads)
override BK: u32 = 16u;        // keys per tile
override CAUSAL: bool = false;
override HAS_BIAS: bool = false;

const MAX_PER_THREAD: u32 = 16u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<storage, read> q: array<act>;
@group(0) @binding(1) var<storage, read> k: array<act>;
@group(0) @binding(2) var<storage, read> v: array<act>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<act>;

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
  bias_head_stride: u32,
  bias_row_stride: u32,
};
@group(0) @binding(5) var<uniform> params: Params;

var<workgroup> q_tile: array<f32, BQ * HEAD_DIM>;
var<workgroup> k_tile: array<f32, BK * HEAD_DIM>;
var<workgroup> v_tile: array<f32, BK * HEAD_DIM>;
var<workgroup> scores: array<f32, BQ * BK>;

@compute @workgroup_size(BQ * T, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wg.y;
  let batch = wg.z;
  let r = lid / T;
  let t = lid % T;
  let q0 = wg.x * BQ;
  let qi = q0 + r;
  let threads = BQ * T;
  let hcol = head * HEAD_DIM;

  for (var e = lid; e < BQ * HEAD_DIM; e += threads) {
    let row = q0 + e / HEAD_DIM;
    var value = 0.0;
    if (row < params.q_len) {
      let at = (batch * params.q_rows + params.q_off + row) * params.q_stride + params.q_col + hcol + e % HEAD_DIM;
      value = f32(q[at]);
    }
    q_tile[e] = value;
  }

  var acc: array<f32, MAX_PER_THREAD>;
  for (var i = 0u; i < MAX_PER_THREAD; i++) { acc[i] = 0.0; }
  var m = NEG;
  var l = 0.0;

  // Causal: keys past the tile's last query are masked for every row of it.
  var kv_end = params.kv_len;
  if (CAUSAL) { kv_end = min(kv_end, q0 + BQ); }

  for (var k0 = 0u; k0 < kv_end; k0 += BK) {
    workgroupBarrier();
    for (var e = lid; e < BK * HEAD_DIM; e += threads) {
      let key = k0 + e / HEAD_DIM;
      let d = e % HEAD_DIM;
      var kv = 0.0;
      var vv = 0.0;
      if (key < params.kv_len) {
        kv = f32(k[(batch * params.k_rows + params.k_off + key) * params.k_stride + params.k_col + hcol + d]);
        vv = f32(v[(batch * params.v_rows + params.v_off + key) * params.v_stride + params.v_col + hcol + d]);
      }
      k_tile[e] = kv;
      v_tile[e] = vv;
    }
    workgroupBarrier();
    for (var j = t; j < BK; j += T) {
      let key = k0 + j;
      var s = NEG;
      let masked = key >= params.kv_len || qi >= params.q_len || (CAUSAL && key > qi);
      if (!masked) {
        var dot = 0.0;
        for (var d = 0u; d < HEAD_DIM; d++) { dot = fma(q_tile[r * HEAD_DIM + d], k_tile[j * HEAD_DIM + d], dot); }
        s = dot * params.scale;
        if (HAS_BIAS) { s += bias[head * params.bias_head_stride + qi * params.bias_row_stride + key]; }
      }
      scores[r * BK + j] = s;
    }
    workgroupBarrier();
    var tile_max = NEG;
    for (var j = 0u; j < BK; j++) { tile_max = max(tile_max, scores[r * BK + j]); }
    let m_new = max(m, tile_max);
    let correction = exp(m - m_new);
    l *= correction;
    for (var i = 0u; i < MAX_PER_THREAD; i++) { acc[i] *= correction; }
    for (var j = 0u; j < BK; j++) {
      let s = scores[r * BK + j];
      if (s <= NEG) { continue; }
      let p = exp(s - m_new);
      l += p;
      for (var i = 0u; i < MAX_PER_THREAD; i++) {
        let d = t + i * T;
        if (d < HEAD_DIM) { acc[i] = fma(p, v_tile[j * HEAD_DIM + d], acc[i]); }
      }
    }
    m = m_new;
  }

  if (qi >= params.q_len) { return; }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let base = (batch * params.o_rows + params.o_off + qi) * params.o_stride + params.o_col + hcol;
  for (var i = 0u; i < MAX_PER_THREAD; i++) {
    let d = t + i * T;
    if (d < HEAD_DIM) { out[base + d] = act(acc[i] * inv); }
  }
}
