import t5BiasWgsl from '../../shaders/t5_bias.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { FORMAT_CODE, type GpuTensor } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export interface T5BiasArgs {
  readonly heads: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly format: 'f32' | 'f16' | 'bf16';
}

const WG = 64;

export const t5BiasKernel: KernelSpec<T5BiasArgs> = {
  name: 't5_bias',
  sources: kernelSources('t5_bias.wgsl', t5BiasWgsl),
  bindings: [
    { name: 'bucket', access: 'read' },
    { name: 'table', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['heads', 'u32'], ['q_len', 'u32'], ['kv_len', 'u32']],
  variant: (a, _caps, precision) => ({ precision, constants: { WG, W_FORMAT: FORMAT_CODE[a.format] } }),
  plan: (a) => ({
    params: { heads: a.heads, q_len: a.qLen, kv_len: a.kvLen },
    workgroups: foldedGrid(Math.ceil((a.heads * a.qLen * a.kvLen) / WG)),
  }),
};

/**
 * Expands a relative-attention-bias table `[numBuckets, heads]` into the additive attention bias
 * f32 `[heads, qLen, kvLen]`. `buckets` is a u32 value of `qLen + kvLen − 1` buckets, entry
 * `(j − i) + qLen − 1` for query i and key j (one per relative distance).
 */
export function t5PositionBias(b: GraphBuilder, buckets: Value, table: GpuTensor, o: { qLen: number; kvLen: number; label?: string }): Value {
  if (table.shape.length !== 2) throw new CheckpointError(table.label, 'relative attention bias must be a matrix', '[num_buckets, heads]', JSON.stringify(table.shape));
  if (table.format !== 'f32' && table.format !== 'f16' && table.format !== 'bf16') {
    throw new CheckpointError(table.label, 'relative attention bias format', 'f32, f16 or bf16', table.format);
  }
  const distances = o.qLen + o.kvLen - 1;
  if (buckets.type !== 'u32' || buckets.shape.reduce((p, d) => p * d, 1) !== distances) {
    throw new InvalidArgumentError('t5 bias buckets', `a u32 value of ${distances} entries`, JSON.stringify(buckets.shape));
  }
  const heads = table.shape[1] as number;
  const out = b.temp([heads, o.qLen, o.kvLen], o.label ?? 'position_bias', 'f32');
  b.dispatch(t5BiasKernel, { heads, qLen: o.qLen, kvLen: o.kvLen, format: table.format }, [buckets, table, out], o.label ?? 't5 position bias');
  return out;
}
