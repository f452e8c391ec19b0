// requires: lib/index.wgsl, lib/dequant.wgsl
// T5 relative position bias, heads first: out[h, i, j] = table[bucket[j − i + q_len − 1], h]
// for query i < q_len, key j < kv_len. `bucket` holds one bucket per relative distance
// (kv_len + q_len − 1 entries), computed on the CPU exactly as the reference does; `table` is block
// 0's relative_attention_bias `[num_buckets, heads]` in f32, f16 or bf16 (W_FORMAT).

override WG: u32 = 64u;
override W_FORMAT: u32 = 0u;

@group(0) @binding(0) var<storage, read> bucket: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

struct Params {
  heads: u32,
  q_len: u32,
  kv_len: u32,
};
@group(0) @binding(3) var<uniform> params: Params;

fn load_table(i: u32) -> f32 {
  switch W_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(table[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(table[i >> 1u], i)); }
    default: { return bitcast<f32>(table[i]); }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = linear_workgroup(wg, num) * WG + lid.x;
  let per_head = params.q_len * params.kv_len;
  if (n >= params.heads * per_head) { return; }
  let h = n / per_head;
  let i = (n % per_head) / params.kv_len;
  let j = n % params.kv_len;
  let b = bucket[j + params.q_len - 1u - i];
  out[n] = load_table(b * params.heads + h);
}
