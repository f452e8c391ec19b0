import toActWgsl from '../../shaders/to_act.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';
import { elementCount } from '../tensor/tensor.js';

export interface ToActArgs {
  readonly n: number;
}

const WG = 64;

export const toActKernel: KernelSpec<ToActArgs> = {
  name: 'to_act',
  sources: kernelSources('to_act.wgsl', toActWgsl),
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'dst', access: 'write' },
  ],
  params: [['n', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({ params: { n: a.n }, workgroups: foldedGrid(Math.ceil(a.n / WG)) }),
};

/**
 * `src` (f32) in the graph's activation type: a new value, or written into `into` (e.g. another
 * graph's f16 input tensor). Exact for f32 graphs; rounds to nearest f16 in f16 graphs.
 */
export function toAct(b: GraphBuilder, src: Operand & object, into?: Operand & object, label = `act(${'label' in src ? src.label : 'src'})`): Value {
  const n = elementCount(src.shape);
  if (into && elementCount(into.shape) !== n) throw new InvalidArgumentError(`${label} destination`, `${n} elements`, elementCount(into.shape));
  const out = (into ?? b.temp(src.shape, label)) as Value;
  b.dispatch(toActKernel, { n }, [src, out], label);
  return out;
}
