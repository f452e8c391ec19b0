// requires: none
// GroupNorm statistics, second stage: combines the per-chunk (count, mean, M2) partials of each
// (batch item, group) with Chan et al.'s pairwise update, in f32, into the mean and
// rstd = 1/√(var + eps) (var the biased variance M2/count, as PyTorch's GroupNorm), then writes
// per-channel coefficients [B, 3, C]: the group mean, rstd·γ_c and β_c, so the application reads
// one vec4 of each per four channels: y = (x − mean)·(rstd·γ) + β. One invocation per (batch, group).

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> coef: array<f32>;

struct Params {
  pairs: u32,
  parts: u32,
  eps: f32,
  channels: u32,
  groups: u32,
};
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pair = gid.x;
  if (pair >= params.pairs) { return; }
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var p = 0u; p < params.parts; p++) {
    let at = (pair * params.parts + p) * 4u;
    let nb = partials[at];
    let delta = partials[at + 1u] - mean;
    let total = n + nb;
    mean += delta * (nb / total);
    m2 += partials[at + 2u] + delta * delta * (n * nb / total);
    n = total;
  }
  let rstd = inverseSqrt(m2 / n + params.eps);
  let batch = pair / params.groups;
  let cpg = params.channels / params.groups;
  let c0 = (pair % params.groups) * cpg;
  let base = batch * 3u * params.channels;
  for (var c = c0; c < c0 + cpg; c++) {
    coef[base + c] = mean;
    coef[base + params.channels + c] = rstd * gamma[c];
    coef[base + 2u * params.channels + c] = beta[c];
  }
}
