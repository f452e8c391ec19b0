import attentionPvWgsl from '../../shaders/attention_pv.wgsl?raw';
import attentionScoresWgsl from '../../shaders/attention_scores.wgsl?raw';
import attentionSoftmaxWgsl from '../../shaders/attention_softmax.wgsl?raw';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';
import type { GpuTensor } from '../tensor/tensor.js';

/**
 * Attention in three passes for CPU emulation: scores (Q·Kᵀ, matmul-like 4×4 blocks), a row
 * softmax in place, then P·V (4 rows × 8 dims per invocation), over chunks of query rows whose
 * f32 scores `[B·heads, rows, s_stride]` stay within a byte budget. On SwiftShader this runs at
 * matmul speed (the online-softmax kernels spend most of their time rescaling accumulators that
 * live in spilled private arrays); GPUs use the flash-style kernel instead (attention.ts).
 */

/** Where one operand's rows are: as SeqOperand, without the value. */
interface Rows {
  readonly rowsPerBatch: number;
  readonly rowOffset: number;
  readonly rowStride: number;
  readonly col: number;
}

interface ChunkArgs {
  readonly batch: number;
  readonly heads: number;
  readonly headDim: number;
  readonly qLen: number;
  readonly kvLen: number;
  readonly scale: number;
  readonly causal: boolean;
  readonly hasBias: boolean;
  /** Where bias[head, query, key] is: head·biasHeadStride + query·biasRowStride + key. */
  readonly biasHeadStride: number;
  readonly biasRowStride: number;
  /** Query rows of this chunk: qBegin … qBegin + rows − 1. */
  readonly qBegin: number;
  readonly rows: number;
  /** Row length of the scores (kvLen rounded up to 4). */
  readonly sStride: number;
  readonly q: Rows;
  readonly k: Rows;
  readonly v: Rows;
  readonly out: Rows;
}

const WG = 64;

export const attentionScoresKernel: KernelSpec<ChunkArgs> = {
  name: 'attention_scores',
  sources: kernelSources('attention_scores.wgsl', attentionScoresWgsl),
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 's', access: 'write' },
  ],
  params: [
    ['q_len', 'u32'], ['kv_len', 'u32'], ['scale', 'f32'], ['heads', 'u32'],
    ['q_begin', 'u32'], ['rows', 'u32'], ['s_stride', 'u32'],
    ['q_rows', 'u32'], ['q_off', 'u32'], ['q_stride', 'u32'], ['q_col', 'u32'],
    ['k_rows', 'u32'], ['k_off', 'u32'], ['k_stride', 'u32'], ['k_col', 'u32'],
    ['bias_head_stride', 'u32'], ['bias_row_stride', 'u32'],
  ],
  variant: (a, _caps, precision) => ({ precision, constants: { HEAD_DIM: a.headDim, WG, CAUSAL: a.causal ? 1 : 0, HAS_BIAS: a.hasBias ? 1 : 0 } }),
  plan: (a) => ({
    params: {
      q_len: a.qLen, kv_len: a.kvLen, scale: a.scale, heads: a.heads, q_begin: a.qBegin, rows: a.rows, s_stride: a.sStride,
      q_rows: a.q.rowsPerBatch, q_off: a.q.rowOffset, q_stride: a.q.rowStride, q_col: a.q.col,
      k_rows: a.k.rowsPerBatch, k_off: a.k.rowOffset, k_stride: a.k.rowStride, k_col: a.k.col,
      bias_head_stride: a.biasHeadStride, bias_row_stride: a.biasRowStride,
    },
    workgroups: [Math.ceil(a.sStride / (4 * WG)), Math.ceil(a.rows / 4), a.batch * a.heads],
  }),
};

export const attentionSoftmaxKernel: KernelSpec<ChunkArgs> = {
  name: 'attention_softmax',
  sources: kernelSources('attention_softmax.wgsl', attentionSoftmaxWgsl),
  bindings: [{ name: 's', access: 'readwrite' }],
  params: [['total_rows', 'u32'], ['s_stride', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { total_rows: a.batch * a.heads * a.rows, s_stride: a.sStride },
    workgroups: foldedGrid(Math.ceil((a.batch * a.heads * a.rows) / WG)),
  }),
};

export const attentionPvKernel: KernelSpec<ChunkArgs> = {
  name: 'attention_pv',
  sources: kernelSources('attention_pv.wgsl', attentionPvWgsl),
  bindings: [
    { name: 'p', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [
    ['kv_len', 'u32'], ['heads', 'u32'], ['q_begin', 'u32'], ['rows', 'u32'], ['s_stride', 'u32'],
    ['v_rows', 'u32'], ['v_off', 'u32'], ['v_stride', 'u32'], ['v_col', 'u32'],
    ['o_rows', 'u32'], ['o_off', 'u32'], ['o_stride', 'u32'], ['o_col', 'u32'],
  ],
  variant: (a, _caps, precision) => ({ precision, constants: { HEAD_DIM: a.headDim, WG } }),
  plan: (a) => ({
    params: {
      kv_len: a.kvLen, heads: a.heads, q_begin: a.qBegin, rows: a.rows, s_stride: a.sStride,
      v_rows: a.v.rowsPerBatch, v_off: a.v.rowOffset, v_stride: a.v.rowStride, v_col: a.v.col,
      o_rows: a.out.rowsPerBatch, o_off: a.out.rowOffset, o_stride: a.out.rowStride, o_col: a.out.col,
    },
    workgroups: [Math.ceil(a.rows / (4 * WG)), Math.ceil(a.headDim / 8), a.batch * a.heads],
  }),
};

/**
 * Scores of one chunk stay under this many bytes (and the binding cap): small enough to stay in
 * the CPU's caches between the three passes, large enough that dispatches stay few.
 */
export const SCORE_CHUNK_BYTES = 8 * 2 ** 20;

export interface PassOperands {
  readonly q: Value;
  readonly k: Value;
  readonly v: Value;
  readonly bias: Value | GpuTensor | null;
  readonly out: Value;
}

type PassShape = Omit<ChunkArgs, 'qBegin' | 'rows' | 'sStride'>;

/** Records the three passes over query-row chunks (see the module comment). */
export function attentionPasses(b: GraphBuilder, shape: PassShape, ops: PassOperands, label: string): void {
  const sStride = Math.ceil(shape.kvLen / 4) * 4;
  const rowBytes = shape.batch * shape.heads * sStride * 4;
  const budget = Math.min(SCORE_CHUNK_BYTES, b.caps.maxStorageBufferBindingSize);
  // At least one row per chunk; a multiple of 4 otherwise, so every invocation has 4 whole rows.
  const fit = Math.max(1, Math.floor(budget / rowBytes));
  const maxRows = fit >= 4 ? fit - (fit % 4) : fit;
  const chunks = Math.ceil(shape.qLen / maxRows);
  const rows = Math.ceil(shape.qLen / chunks);
  for (let qBegin = 0; qBegin < shape.qLen; qBegin += rows) {
    const n = Math.min(rows, shape.qLen - qBegin);
    const args: ChunkArgs = { ...shape, qBegin, rows: n, sStride };
    const part = chunks > 1 ? `[${qBegin}:${qBegin + n}]` : '';
    const scores = b.temp([shape.batch * shape.heads * n, sStride], `${label}.scores${part}`, 'f32');
    b.dispatch(attentionScoresKernel, args, [ops.q, ops.k, ops.bias, scores], `${label}.scores${part}`);
    b.dispatch(attentionSoftmaxKernel, args, [scores], `${label}.softmax${part}`);
    b.dispatch(attentionPvKernel, args, [scores, ops.v, ops.out], `${label}.pv${part}`);
  }
}
