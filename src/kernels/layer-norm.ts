import layerNormWgsl from '../../shaders/layer_norm.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import type { GpuTensor } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

interface LayerNormArgs {
  readonly rows: number;
  readonly cols: number;
  readonly modulate: boolean;
  readonly tokens: number;
  readonly modStride: number;
  readonly shiftCol: number;
  readonly scaleCol: number;
  readonly eps: number;
}

const WG = 64;

export const layerNormKernel: KernelSpec<LayerNormArgs> = {
  name: 'layer_norm',
  sources: kernelSources('layer_norm.wgsl', layerNormWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'modulation', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['rows', 'u32'], ['cols', 'u32'], ['tokens', 'u32'], ['mod_stride', 'u32'], ['shift_col', 'u32'], ['scale_col', 'u32'], ['eps', 'f32']],
  variant: (a, caps, precision) => ({ precision, constants: { WG, MODULATE: a.modulate ? 1 : 0, SERIAL: caps.isFallbackAdapter ? 1 : 0 } }),
  plan: (a, v) => ({
    params: { rows: a.rows, cols: a.cols, tokens: a.tokens, mod_stride: a.modStride, shift_col: a.shiftCol, scale_col: a.scaleCol, eps: a.eps },
    workgroups: foldedGrid(v.constants.SERIAL ? Math.ceil(a.rows / WG) : a.rows),
  }),
};

function rowsOf(x: Value): number {
  return x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
}

export interface ModulateOptions {
  /** `[batch, chunks·H]` modulation (adaLN output); row `floor(row / tokensPerBatch)` is used. */
  readonly mod: Value;
  readonly shiftCol: number;
  readonly scaleCol: number;
  readonly tokensPerBatch: number;
  readonly eps: number;
  readonly label?: string;
}

/** `LN(x)·(1 + scale) + shift` (LayerNorm without affine, then adaLN modulation). */
export function layerNormModulate(b: GraphBuilder, x: Value, o: ModulateOptions): Value {
  const cols = x.shape.at(-1) as number;
  const modStride = o.mod.shape.at(-1) as number;
  if (Math.max(o.shiftCol, o.scaleCol) + cols > modStride) {
    throw new InvalidArgumentError('layerNormModulate columns', `shift/scale chunks within ${modStride} columns`, [o.shiftCol, o.scaleCol]);
  }
  const out = b.temp(x.shape, o.label ?? `ln_mod(${x.label})`);
  b.dispatch(
    layerNormKernel,
    { rows: rowsOf(x), cols, modulate: true, tokens: o.tokensPerBatch, modStride, shiftCol: o.shiftCol, scaleCol: o.scaleCol, eps: o.eps },
    [x, o.mod, null, null, out],
    o.label ?? 'layer_norm_modulate',
  );
  return out;
}

/** Affine LayerNorm `LN(x)·weight + bias` (weight and bias f32 `[C]`). */
export function layerNorm(b: GraphBuilder, x: Value, o: { weight: GpuTensor; bias: GpuTensor; eps: number; label?: string }): Value {
  const cols = x.shape.at(-1) as number;
  for (const t of [o.weight, o.bias]) {
    if (t.shape.length !== 1 || t.shape[0] !== cols) throw new CheckpointError(t.label, 'LayerNorm parameter has the wrong shape', `[${cols}]`, JSON.stringify(t.shape));
  }
  const out = b.temp(x.shape, o.label ?? `ln(${x.label})`);
  b.dispatch(
    layerNormKernel,
    { rows: rowsOf(x), cols, modulate: false, tokens: 1, modStride: 0, shiftCol: 0, scaleCol: 0, eps: o.eps },
    [x, null, o.weight, o.bias, out],
    o.label ?? 'layer_norm',
  );
  return out;
}
