/**
 * FLOPs and bytes moved by one recorded dispatch, from its kernel and arguments, for achieved
 * GFLOP/s and GB/s. Matmuls count 2·M·N·K and read x once, the weight once (in its storage
 * format) and write y once (plus residual and gate reads); attention counts 4·B·heads·q·kv·d and
 * reads q, k, v and writes the output once (the ideal traffic of a flash kernel). Every other
 * kernel moves the bytes of its bindings and does no counted arithmetic.
 */
import { isValue, type RecordedOp, valueBytes } from '../../src/graph/builder.js';
import type { Precision } from '../../src/shader/contract.js';
import type { MatmulArgs } from '../../src/kernels/matmul.js';
import { storageBytes } from '../../src/tensor/tensor.js';

export interface DispatchCost {
  readonly flops: number;
  readonly bytes: number;
}

interface PassCostArgs {
  readonly batch: number;
  readonly heads: number;
  readonly headDim: number;
  readonly rows: number;
  readonly kvLen: number;
  readonly sStride: number;
}

interface AttentionCostArgs {
  readonly o: { readonly batch: number; readonly heads: number; readonly headDim: number; readonly qLen: number; readonly kvLen: number };
}

export function dispatchCost(op: RecordedOp, precision: Precision): DispatchCost {
  const act = precision === 'f16' ? 2 : 4;
  const name = op.spec.name;
  if (name.startsWith('matmul')) {
    const a = op.args as MatmulArgs;
    const weight = storageBytes([a.n, a.k], a.format);
    const extra = a.epilogue === 'gated_residual' ? a.m * a.n * act : 0;
    return { flops: 2 * a.m * a.n * a.k, bytes: (a.m * a.k + a.m * a.n) * act + weight + extra };
  }
  if (name === 'attention_scores' || name === 'attention_pv') {
    // The CPU-emulation passes (kernels/attention-passes.ts): half the attention FLOPs each, over
    // one chunk of query rows; the scores are written once and read once.
    const a = op.args as PassCostArgs;
    const width = a.heads * a.headDim;
    const scores = a.batch * a.heads * a.rows * a.sStride * 4;
    return { flops: 2 * a.batch * a.heads * a.rows * a.kvLen * a.headDim, bytes: (a.batch * (a.rows + a.kvLen) * width) * act + scores };
  }
  if (name === 'attention') {
    const { o } = op.args as AttentionCostArgs;
    const width = o.heads * o.headDim;
    return {
      flops: 4 * o.batch * o.heads * o.qLen * o.kvLen * o.headDim,
      bytes: o.batch * (2 * o.qLen + 2 * o.kvLen) * width * act,
    };
  }
  let bytes = 0;
  for (const operand of op.bindings) {
    if (operand === null) continue;
    bytes += isValue(operand) ? valueBytes(operand, precision) : storageBytes(operand.shape, operand.format);
  }
  return { flops: 0, bytes };
}

/**
 * The part of a dispatch's work a breakdown groups it under: the kernel, and for matmuls the
 * layer role (`attn.qkv`, `mlp.fc1`, `adaLN`, …) with block indices and chunk ranges removed.
 */
export function dispatchGroup(op: RecordedOp): string {
  const kernel = op.spec.name;
  if (!kernel.startsWith('matmul')) return kernel;
  const role = op.label
    .replace(/\[\d+:\d+\]$/, '')
    .replace(/^joint_blocks\.\d+\.(context_block|x_block)\./, '')
    .replace(/^final_layer\./, 'final.')
    .replace(/adaLN_modulation\.1$/, 'adaLN')
    .replace(/^(t|y)_embedder\.mlp\.\d$/, 'embedder mlp');
  return `${kernel} ${role}`;
}
