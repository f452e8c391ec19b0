import { InvalidArgumentError, NonFiniteError } from '../errors.js';

/**
 * CPU-side guards for what the CPU writes into GPU buffers (noise, context, pooled, sigmas,
 * latents, images): one NaN there turns the whole latent into NaN and the image black, silently.
 * They run before upload, so the error names the tensor and the first bad element.
 */

function valueName(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

/** Index of the first NaN or infinity, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    // v − v is 0 for every finite v and NaN for NaN and ±Infinity.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws NonFiniteError naming `tensor` and its first non-finite element. */
export function assertFinite(tensor: string, values: ArrayLike<number>, phase = 'input'): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new NonFiniteError(phase, tensor, i, valueName(values[i] as number));
}

/**
 * A sampling schedule must be finite, ≥ 0 and strictly decreasing (σ₀ > σ₁ > … ≥ 0): each Euler
 * step moves from σ[i] to σ[i+1], and an increasing pair would add noise instead of removing it.
 */
export function assertSchedule(sigmas: ArrayLike<number>, name = 'sigmas'): void {
  assertFinite(name, sigmas);
  for (let i = 0; i < sigmas.length; i++) {
    const s = sigmas[i] as number;
    if (s < 0) throw new InvalidArgumentError(`${name}[${i}]`, 'a number ≥ 0', s);
    if (i > 0 && !(s < (sigmas[i - 1] as number))) {
      throw new InvalidArgumentError(`${name}[${i}]`, `less than ${name}[${i - 1}] = ${sigmas[i - 1] as number} (the schedule must decrease)`, s);
    }
  }
}
