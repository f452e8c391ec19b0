// requires: none
// The non-finite check of a tensor before it is decoded or read (the sampler's latent): one
// workgroup strides over x, counts the elements whose exponent bits are all ones (NaN, +Inf,
// -Inf: f32 bits & 0x7f800000 == 0x7f800000, so no float comparison a compiler may fold) and
// keeps the first such index. out = [count, first index (0xffffffff when none), its bits].

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

struct Params {
  n: u32,
};
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> counts: array<u32, WG>;
var<workgroup> firsts: array<u32, WG>;

const NONE: u32 = 0xffffffffu;
const EXPONENT: u32 = 0x7f800000u;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var count = 0u;
  var first = NONE;
  for (var i = t; i < params.n; i += WG) {
    if ((x[i] & EXPONENT) == EXPONENT) {
      count += 1u;
      first = min(first, i);
    }
  }
  counts[t] = count;
  firsts[t] = first;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (t < stride) {
      counts[t] += counts[t + stride];
      firsts[t] = min(firsts[t], firsts[t + stride]);
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    out[0] = counts[0];
    out[1] = firsts[0];
    out[2] = select(0u, x[min(firsts[0], params.n - 1u)], firsts[0] != NONE);
  }
}
