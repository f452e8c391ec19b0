import { InvalidArgumentError } from '../errors.js';

/**
 * SD3's rectified-flow schedule (MODEL_SPEC §4), in float64 as the reference vectors use it.
 * The reference shifts twice: the linspace runs between already-shifted end points in timestep
 * units, and each point is shifted again.
 */

export const DEFAULT_SHIFT = 3.0;
/** Timesteps per unit σ: the model is called with t = 1000·σ. */
export const TIMESTEP_SCALE = 1000;

/** σ(τ) = s·(τ/1000) / (1 + (s−1)·(τ/1000)). */
export function shiftedSigma(timestep: number, shift: number): number {
  const t = timestep / TIMESTEP_SCALE;
  return shift === 1 ? t : (shift * t) / (1 + (shift - 1) * t);
}

/** `steps + 1` sigmas ending at 0: σ_k = σ(τ_k), τ = linspace(1000·σ(1000), 1000·σ(1), steps). */
export function sd3Sigmas(steps: number, shift = DEFAULT_SHIFT): Float64Array {
  if (!Number.isInteger(steps) || steps < 1) throw new InvalidArgumentError('steps', 'an integer ≥ 1', steps);
  if (!Number.isFinite(shift) || shift <= 0) throw new InvalidArgumentError('shift', 'a finite number > 0', shift);
  const start = TIMESTEP_SCALE * shiftedSigma(TIMESTEP_SCALE, shift);
  const end = TIMESTEP_SCALE * shiftedSigma(1, shift);
  const out = new Float64Array(steps + 1);
  for (let k = 0; k < steps; k++) {
    // A one-point linspace is its start (never divide by steps − 1 = 0).
    const tau = steps === 1 ? start : k === steps - 1 ? end : start + ((end - start) * k) / (steps - 1);
    out[k] = shiftedSigma(tau, shift);
  }
  out[steps] = 0;
  return out;
}

/**
 * Image-to-image start: drop the first `trunc(steps·(1 − denoise))` sigmas (float64 arithmetic
 * as written: steps 10, denoise 0.9 → trunc(0.9999999999999998) = 0 dropped).
 */
export function denoiseSigmas(sigmas: Float64Array, denoise: number): Float64Array {
  if (!(denoise > 0 && denoise <= 1)) throw new InvalidArgumentError('denoise', 'a number in (0, 1]', denoise);
  const steps = sigmas.length - 1;
  const skip = Math.trunc(steps * (1 - denoise));
  return sigmas.slice(Math.min(skip, steps - 1));
}

/**
 * Sinusoidal timestep features `[cos(t·f_0..), sin(t·f_0..)]`, f_j = exp(−ln(10000)·j/half),
 * cos first (MODEL_SPEC §3.3), in float64: t·f_j reaches 1000 rad, where f32 sin/cos on GPUs
 * are far less accurate than the forward tolerance.
 */
export function timestepFeatures(t: number, dim = 256, out: Float64Array = new Float64Array(dim), at = 0): Float64Array {
  const half = dim / 2;
  for (let j = 0; j < half; j++) {
    const arg = t * Math.exp((-Math.log(10000) * j) / half);
    out[at + j] = Math.cos(arg);
    out[at + half + j] = Math.sin(arg);
  }
  return out;
}
