import nonFiniteCountWgsl from '../../shaders/nonfinite_count.wgsl?raw';
import { InvalidArgumentError, NonFiniteError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import type { KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';
import { elementCount } from '../tensor/tensor.js';

/**
 * The GPU side of the non-finite guard: one small reduction over an f32 tensor (the latent after
 * sampling, before decoding) whose 3-word result is read back with the result itself, so the
 * check costs no extra readback and nothing per step.
 */

const WG = 256;
/** `first` when no element is NaN or infinite. */
export const NO_NON_FINITE = 0xffffffff;
/** Words of the check's output: count, first index, bits of the first bad value. */
export const NON_FINITE_WORDS = 3;

export interface NonFiniteArgs {
  readonly n: number;
}

export const nonFiniteCountKernel: KernelSpec<NonFiniteArgs> = {
  name: 'nonfinite_count',
  sources: kernelSources('nonfinite_count.wgsl', nonFiniteCountWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['n', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({ params: { n: a.n }, workgroups: [1, 1, 1] }),
};

/** Records the check of f32 `x`: a u32 `[3]` value (count, first index, its bits). */
export function nonFiniteCheck(b: GraphBuilder, x: Exclude<Operand, null>, label = 'nonfinite_check'): Value {
  const n = elementCount(x.shape);
  if (n < 1 || n >= NO_NON_FINITE) throw new InvalidArgumentError(`${label} input`, 'a tensor of 1…2^32−2 elements', n);
  if ('type' in x && x.type !== 'f32') throw new InvalidArgumentError(`${label} input ${x.label}`, 'an f32 tensor', x.type);
  const out = b.temp([NON_FINITE_WORDS], label, 'u32');
  b.dispatch(nonFiniteCountKernel, { n }, [x, out], label);
  return out;
}

export interface NonFiniteFinding {
  readonly count: number;
  readonly index: number;
  readonly value: 'NaN' | 'Infinity' | '-Infinity';
}

/** The check's words as a finding, or null when every element is finite. */
export function readNonFinite(words: Uint32Array): NonFiniteFinding | null {
  const [count = 0, index = NO_NON_FINITE, bits = 0] = words;
  if (count === 0) return null;
  const value = (bits & 0x007fffff) !== 0 ? 'NaN' : bits >>> 31 ? '-Infinity' : 'Infinity';
  return { count, index, value };
}

/** Raises NonFiniteError for a check that found NaN or Inf in `tensor` (phase e.g. "sampling"). */
export function throwIfNonFinite(words: Uint32Array, tensor: string, phase: string, step: number | null = null): void {
  const found = readNonFinite(words);
  if (found) throw new NonFiniteError(phase, tensor, found.index, found.value, step, found.count);
}
