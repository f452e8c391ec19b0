// requires: prelude/<precision>.wgsl, lib/index.wgsl, lib/dequant.wgsl
// out[r, c] = table[ids[r] − id_start, c] (+ pos[pos_offset + r mod tokens, c])
// for the rows r < rows whose id falls in this part of the table, [id_start, id_start + id_count).
// A table larger than one binding is split into row parts, one dispatch per part: every id lies in
// exactly one part, so every output row is written exactly once and the position row is added once.
// The table is read in any storage format (W_FORMAT, as matmul.wgsl reads weights); the position
// table (HAS_POS) in f32, f16 or bf16 (POS_FORMAT).

override WG: u32 = 64u;
override W_FORMAT: u32 = 0u;
override HAS_POS: bool = false;
override POS_FORMAT: u32 = 0u;

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<act>;

struct Params {
  rows: u32,
  dim: u32,
  tokens: u32,
  id_start: u32,
  id_count: u32,
  pos_offset: u32,
};
@group(0) @binding(5) var<uniform> params: Params;

fn load_table(row: u32, col: u32) -> f32 {
  let i = row * params.dim + col;
  switch W_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(table[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(table[i >> 1u], i)); }
    case FMT_Q8: { return q8_of(table[i >> 2u], i) * bitcast<f32>(scales[row]); }
    case FMT_Q4: {
      let g = row * (params.dim / 32u) + col / 32u;
      return q4_of(table[i >> 3u], i) * f16_bits_to_f32(half_of(scales[g >> 1u], g));
    }
    default: { return bitcast<f32>(table[i]); }
  }
}

fn load_pos(row: u32, col: u32) -> f32 {
  let i = row * params.dim + col;
  switch POS_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(pos[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(pos[i >> 1u], i)); }
    default: { return bitcast<f32>(pos[i]); }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.rows * params.dim) { return; }
  let r = i / params.dim;
  let c = i % params.dim;
  let id = ids[r];
  // Unsigned wrap-around sends ids below id_start past id_count as well.
  let local = id - params.id_start;
  if (local >= params.id_count) { return; }
  var v = load_table(local, c);
  if (HAS_POS) { v += load_pos(params.pos_offset + r % params.tokens, c); }
  out[i] = act(v);
}
