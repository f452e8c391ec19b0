// requires: prelude/<precision>.wgsl, lib/index.wgsl, lib/dequant.wgsl
// Patch embedding fused with the position-embedding crop (MODEL_SPEC §3.1–3.2):
// y[b, r·w + c, o] = bias[o] + pos[r·w + c, o]
//                  + Σ_{ch, ky, kx} x[b mod batch_in, ch, r·p + ky, c·p + kx] · W[o, (ch·p + ky)·p + kx]
// x is the NCHW latent (f32); W is the stride-p conv weight [H, C, p, p] read as [H, C·p·p] in any
// storage format; pos is the already-cropped table [N, H] (f32, f16 or bf16). Reading the latent
// at b mod batch_in lets a CFG graph (cond rows then uncond rows) share one latent.
// Each invocation computes TN consecutive output channels of one token, reusing the patch.

override WG: u32 = 64u;
override W_FORMAT: u32 = 0u;
override POS_FORMAT: u32 = 0u;
override HAS_BIAS: bool = true;

const TN: u32 = 4u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> pos: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<act>;

struct Params {
  batch: u32,
  batch_in: u32,
  channels: u32,
  height: u32,
  width: u32,
  patch_size: u32,
  hidden: u32,
};
@group(0) @binding(6) var<uniform> params: Params;

fn load_w(row: u32, col: u32, k: u32) -> f32 {
  let i = row * k + col;
  switch W_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(w[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(w[i >> 1u], i)); }
    case FMT_Q8: { return q8_of(w[i >> 2u], i) * bitcast<f32>(scales[row]); }
    case FMT_Q4: {
      let g = row * (k / 32u) + col / 32u;
      return q4_of(w[i >> 3u], i) * f16_bits_to_f32(half_of(scales[g >> 1u], g));
    }
    default: { return bitcast<f32>(w[i]); }
  }
}

fn load_pos(i: u32) -> f32 {
  switch POS_FORMAT {
    case FMT_F16: { return f16_bits_to_f32(half_of(pos[i >> 1u], i)); }
    case FMT_BF16: { return bf16_bits_to_f32(half_of(pos[i >> 1u], i)); }
    default: { return bitcast<f32>(pos[i]); }
  }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) num: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let p = params.patch_size;
  let tw = params.width / p;
  let tokens = (params.height / p) * tw;
  let groups = (params.hidden + TN - 1u) / TN;
  let i = linear_workgroup(wg, num) * WG + lid.x;
  if (i >= params.batch * tokens * groups) { return; }
  let o0 = (i % groups) * TN;
  let row = i / groups;
  let t = row % tokens;
  let b = (row / tokens) % params.batch_in;
  let r = t / tw;
  let c = t % tw;
  let k = params.channels * p * p;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var ch = 0u; ch < params.channels; ch++) {
    for (var ky = 0u; ky < p; ky++) {
      let base = ((b * params.channels + ch) * params.height + r * p + ky) * params.width + c * p;
      for (var kx = 0u; kx < p; kx++) {
        let v = x[base + kx];
        let kk = (ch * p + ky) * p + kx;
        for (var j = 0u; j < TN; j++) {
          if (o0 + j < params.hidden) { acc[j] = fma(v, load_w(o0 + j, kk, k), acc[j]); }
        }
      }
    }
  }
  for (var j = 0u; j < TN; j++) {
    let o = o0 + j;
    if (o >= params.hidden) { break; }
    var v = acc[j] + load_pos(t * params.hidden + o);
    if (HAS_BIAS) { v += bias[o]; }
    y[row * params.hidden + o] = act(v);
  }
}
