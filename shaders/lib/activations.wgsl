// Activation functions, evaluated in f32.

fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

// GELU, tanh form (MM-DiT MLPs, T5's gated FFN). tanh is written through exp for large |u|
// stability: tanh(u) = 1 - 2/(exp(2u)+1) saturates cleanly instead of producing NaN.
fn gelu_tanh(x: f32) -> f32 {
  let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = 1.0 - 2.0 / (exp(2.0 * clamp(u, -20.0, 20.0)) + 1.0);
  return 0.5 * x * (1.0 + t);
}

// CLIP-L's quick GELU: x·σ(1.702x).
fn quick_gelu(x: f32) -> f32 {
  return x / (1.0 + exp(-1.702 * x));
}

// erf(x) from W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969): erf on
// |x| < 0.5, erfc = exp(-x²)·P/Q on [0.5, 4), 1 beyond (erfc(4) < 1.6e-8). WGSL has no erf;
// CLIP-G's exact GELU needs one to well under the 5e-5 tolerance.
fn erf_approx(x: f32) -> f32 {
  let ax = abs(x);
  var r: f32;
  if (ax < 0.5) {
    let z = x * x;
    let p = 3.20937758913846947e03 + z * (3.77485237685302021e02 + z * (1.13864154151050156e02 + z * (3.16112374387056560e00 + z * 1.85777706184603153e-1)));
    let q = 2.84423683343917062e03 + z * (1.28261652607737228e03 + z * (2.44024637934444173e02 + z * (2.36012909523441209e01 + z)));
    return x * p / q;
  } else if (ax < 4.0) {
    let p = 1.23033935479799725e03 + ax * (2.05107837782607147e03 + ax * (1.71204761263407058e03 + ax * (8.81952221241769090e02 + ax * (2.98635138197400131e02 + ax * (6.61191906371416295e01 + ax * (8.88314979438837594e00 + ax * (5.64188496988670089e-1 + ax * 2.15311535474403846e-8)))))));
    let q = 1.23033935480374942e03 + ax * (3.43936767414372164e03 + ax * (4.36261909014324716e03 + ax * (3.29079923573345963e03 + ax * (1.62138957456669019e03 + ax * (5.37181101862009858e02 + ax * (1.17693950891312499e02 + ax * (1.57449261107098347e01 + ax)))))));
    r = 1.0 - exp(-ax * ax) * p / q;
  } else {
    r = 1.0;
  }
  return select(r, -r, x < 0.0);
}

fn gelu_erf(x: f32) -> f32 {
  return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476));
}
