import attentionWgsl from '../../shaders/attention.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import type { GpuTensor } from '../tensor/tensor.js';
import type { KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';
import { attentionPasses } from './attention-passes.js';

/**
 * Where a sequence operand's elements live: (batch i, token t, head h, dim d) is at
 * `(i·rowsPerBatch + rowOffset + t)·rowStride + col + h·headDim + d`. A plain `[B, L, heads·dh]`
 * tensor is `{rowsPerBatch: L, rowOffset: 0, rowStride: heads·dh, col: 0}`; q/k/v as column slices of
 * a fused qkv buffer differ only in `col`; a stream inside a joint sequence in `rowOffset`.
 */
export interface SeqOperand {
  readonly value: Value;
  readonly rowsPerBatch: number;
  readonly rowOffset: number;
  readonly rowStride: number;
  readonly col: number;
}

export interface AttentionOptions {
  readonly q: SeqOperand;
  readonly k: SeqOperand;
  readonly v: SeqOperand;
  readonly batch: number;
  readonly heads: number;
  readonly headDim: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly scale: number;
  readonly causal?: boolean;
  /** f32 `[heads, qLen, kvLen]` added to the scores, shared by every batch item (T5). */
  readonly bias?: Value | GpuTensor | null;
  /**
   * f32 `[kvLen]` added to every score of that key, in every query row, head and batch item: the
   * log of how many identical rows one key stands for (the MM-DiT's collapsed zero T5 rows).
   * Exclusive with `bias`.
   */
  readonly keyBias?: Value | GpuTensor | null;
  readonly out?: SeqOperand;
  readonly label?: string;
}

interface AttentionArgs {
  readonly o: AttentionOptions;
  readonly out: SeqOperand;
}

const THREADS = 64;
const MAX_PER_THREAD = 16;

/** Threads per query row so that each owns ≤ 16 dims; rows per workgroup fill 64 threads. */
function tiling(headDim: number, workgroupBytes: number): { t: number; bq: number; bk: number } {
  let t = 1;
  while (t * MAX_PER_THREAD < headDim) t *= 2;
  const bq = THREADS / t;
  // q tile + k tile + v tile + scores, f32, within the workgroup storage limit.
  let bk = 64;
  while (bk > 1 && 4 * (bq * headDim + 2 * bk * headDim + bq * bk) > workgroupBytes) bk /= 2;
  return { t, bq, bk };
}

export const attentionKernel: KernelSpec<AttentionArgs> = {
  name: 'attention',
  sources: kernelSources('attention.wgsl', attentionWgsl),
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [
    ['q_len', 'u32'], ['kv_len', 'u32'], ['scale', 'f32'],
    ['q_rows', 'u32'], ['q_off', 'u32'], ['q_stride', 'u32'], ['q_col', 'u32'],
    ['k_rows', 'u32'], ['k_off', 'u32'], ['k_stride', 'u32'], ['k_col', 'u32'],
    ['v_rows', 'u32'], ['v_off', 'u32'], ['v_stride', 'u32'], ['v_col', 'u32'],
    ['o_rows', 'u32'], ['o_off', 'u32'], ['o_stride', 'u32'], ['o_col', 'u32'],
    ['bias_head_stride', 'u32'], ['bias_row_stride', 'u32'],
  ],
  variant({ o }, caps, precision) {
    const { t, bq, bk } = tiling(o.headDim, Math.min(16384, caps.maxComputeWorkgroupStorageSize));
    return {
      precision,
      constants: { HEAD_DIM: o.headDim, T: t, BQ: bq, BK: bk, CAUSAL: o.causal ? 1 : 0, HAS_BIAS: biasOf(o).value ? 1 : 0 },
    };
  },
  plan({ o, out }, v) {
    const bq = v.constants.BQ ?? 16;
    const p = (prefix: string, s: SeqOperand) => ({
      [`${prefix}_rows`]: s.rowsPerBatch,
      [`${prefix}_off`]: s.rowOffset,
      [`${prefix}_stride`]: s.rowStride,
      [`${prefix}_col`]: s.col,
    });
    const bias = biasOf(o);
    return {
      params: { q_len: o.qLen, kv_len: o.kvLen, scale: o.scale, ...p('q', o.q), ...p('k', o.k), ...p('v', o.v), ...p('o', out), bias_head_stride: bias.headStride, bias_row_stride: bias.rowStride },
      workgroups: [Math.ceil(o.qLen / bq), o.heads, o.batch],
    };
  },
};

/**
 * The bias operand and where bias[head, query, key] is in it: head·headStride + query·rowStride +
 * key. A full bias is `[heads, qLen, kvLen]`; a key bias broadcasts (zero strides).
 */
function biasOf(o: AttentionOptions): { value: Value | GpuTensor | null; headStride: number; rowStride: number } {
  if (o.keyBias) return { value: o.keyBias, headStride: 0, rowStride: 0 };
  return { value: o.bias ?? null, headStride: o.qLen * o.kvLen, rowStride: o.kvLen };
}

/** Whether the three-pass variant fits (vec4 rows and head dims) and should run: CPU emulation. */
function usePasses(o: AttentionOptions, out: SeqOperand, fallbackAdapter: boolean): boolean {
  const aligned = (s: SeqOperand) => s.rowStride % 4 === 0 && s.col % 4 === 0;
  return fallbackAdapter && o.headDim % 4 === 0 && [o.q, o.k, o.v, out].every(aligned);
}

/** Plain `[batch, len, width]` operand. */
export function seq(value: Value, col = 0): SeqOperand {
  const shape = value.shape;
  return { value, rowsPerBatch: shape.at(-2) as number, rowOffset: 0, rowStride: shape.at(-1) as number, col };
}

/** Multi-head attention over row-addressed operands (see SeqOperand); returns the output value. */
export function attention(b: GraphBuilder, o: AttentionOptions): Value {
  if (o.headDim < 1 || o.headDim > 512) throw new InvalidArgumentError('attention headDim', '1…512', o.headDim);
  for (const [name, n] of [['batch', o.batch], ['heads', o.heads], ['qLen', o.qLen], ['kvLen', o.kvLen]] as const) {
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`attention ${name}`, 'a positive integer', n);
  }
  if (o.bias && o.keyBias) throw new InvalidArgumentError('attention keyBias', 'absent when a full bias is given', 'both');
  const width = o.heads * o.headDim;
  const out = o.out ?? { value: b.temp([o.batch, o.qLen, width], o.label ?? 'attention'), rowsPerBatch: o.qLen, rowOffset: 0, rowStride: width, col: 0 };
  const bias = biasOf(o);
  if (usePasses(o, out, b.caps.isFallbackAdapter)) {
    const rows = ({ rowsPerBatch, rowOffset, rowStride, col }: SeqOperand) => ({ rowsPerBatch, rowOffset, rowStride, col });
    attentionPasses(
      b,
      {
        batch: o.batch, heads: o.heads, headDim: o.headDim, qLen: o.qLen, kvLen: o.kvLen, scale: o.scale,
        causal: Boolean(o.causal), hasBias: bias.value !== null, biasHeadStride: bias.headStride, biasRowStride: bias.rowStride,
        q: rows(o.q), k: rows(o.k), v: rows(o.v), out: rows(out),
      },
      { q: o.q.value, k: o.k.value, v: o.v.value, bias: bias.value, out: out.value },
      o.label ?? 'attention',
    );
    return out.value;
  }
  const bindings: Operand[] = [o.q.value, o.k.value, o.v.value, bias.value, out.value];
  b.dispatch(attentionKernel, { o, out }, bindings, o.label ?? 'attention');
  return out.value;
}
