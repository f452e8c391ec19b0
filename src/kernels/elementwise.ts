import elementwiseWgsl from '../../shaders/elementwise.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { elementCount } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export type UnaryOp = 'copy' | 'silu' | 'gelu_tanh' | 'quick_gelu' | 'gelu_erf' | 'affine';
export type BinaryOp = 'add' | 'mul';
export type ElementwiseOp = UnaryOp | BinaryOp;

const OP_CODE: Readonly<Record<ElementwiseOp, number>> = {
  copy: 0, silu: 1, gelu_tanh: 2, quick_gelu: 3, gelu_erf: 4, add: 5, mul: 6, affine: 7,
};

export interface ElementwiseArgs {
  readonly op: ElementwiseOp;
  readonly n: number;
  readonly bPeriod: number;
  readonly alpha: number;
  readonly beta: number;
}

const WG = 64;

export const elementwiseKernel: KernelSpec<ElementwiseArgs> = {
  name: 'elementwise',
  sources: kernelSources('elementwise.wgsl', elementwiseWgsl),
  bindings: [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['n', 'u32'], ['b_period', 'u32'], ['alpha', 'f32'], ['beta', 'f32']],
  variant: (a, _caps, precision) => ({ precision, constants: { WG, OP: OP_CODE[a.op] } }),
  plan: (a) => ({
    params: { n: a.n, b_period: a.bPeriod, alpha: a.alpha, beta: a.beta },
    workgroups: foldedGrid(Math.ceil(a.n / WG)),
  }),
};

/** `op(x)` elementwise; `affine` computes `alpha·x + beta`. */
export function unary(b: GraphBuilder, op: UnaryOp, x: Value, o: { alpha?: number; beta?: number; label?: string } = {}): Value {
  const out = b.temp(x.shape, o.label ?? `${op}(${x.label})`, x.type);
  const args = { op, n: elementCount(x.shape), bPeriod: 1, alpha: o.alpha ?? 1, beta: o.beta ?? 0 };
  b.dispatch(elementwiseKernel, args, [x, null, out], o.label ?? op);
  return out;
}

/** `x op y`, where y's elements repeat with its own size (same shape, or a per-channel row). */
export function binary(b: GraphBuilder, op: BinaryOp, x: Value, y: Value, label?: string): Value {
  const n = elementCount(x.shape);
  const period = elementCount(y.shape);
  if (n % period !== 0) throw new InvalidArgumentError(`${op} operand ${y.label}`, `a size dividing ${n}`, period);
  const out = b.temp(x.shape, label ?? `${op}(${x.label}, ${y.label})`, x.type);
  b.dispatch(elementwiseKernel, { op, n, bPeriod: period, alpha: 1, beta: 0 }, [x, y, out], label ?? op);
  return out;
}
