// GroupNorm statistics, second stage: combines the per-chunk (count, mean, M2) partials of each
// (batch item, group) with Chan et al.'s pairwise update, in f32, into (mean, 1/√(var + eps)),
// var the biased variance M2/count (PyTorch GroupNorm). One invocation per (batch, group).

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;

struct Params {
  pairs: u32,
  parts: u32,
  eps: f32,
};
@group(0) @binding(2) var<uniform> params: Params;

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
  stats[pair * 2u] = mean;
  stats[pair * 2u + 1u] = inverseSqrt(m2 / n + params.eps);
}
