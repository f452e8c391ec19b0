import { CheckpointError } from '../../errors.js';
import type { TensorInfo } from '../../weights/tensor-source.js';

/** An MM-DiT (SD3 / SD3.5) configuration, derived from tensor names and shapes (MODEL_SPEC §2). */
export interface MmditConfig {
  /** Hidden width H. */
  readonly hidden: number;
  readonly heads: number;
  readonly headDim: number;
  readonly depth: number;
  readonly patch: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Position table side M (`pos_embed_max_size`): latents up to `patch·M` per side. */
  readonly posEmbedMaxSize: number;
  /** Context width D. */
  readonly contextDim: number;
  /** Pooled (adm) width A. */
  readonly pooledDim: number;
  /** MLP width F. */
  readonly mlpHidden: number;
  /** Width of the sinusoidal timestep features (256 in every release). */
  readonly frequencyDim: number;
  readonly qkNorm: boolean;
  /** Sorted indices of the MMDiT-X blocks with a second (image-only) self-attention. */
  readonly dualAttentionLayers: readonly number[];
}

/**
 * The head width of every release (MODEL_SPEC §2): hidden = 64·heads. A checkpoint without QK-norm
 * carries no head width, so it gets this one; with QK-norm, the norm's scale is one head wide, and
 * the width is read from it (a configuration choice, as in diffusers' `attention_head_dim`).
 */
export const HEAD_DIM = 64;

type Infos = ReadonlyMap<string, TensorInfo>;

function need(tensors: Infos, key: string, rank: number): readonly number[] {
  const info = tensors.get(key);
  if (!info) throw new CheckpointError(key, 'is missing; it is needed to derive the model configuration');
  if (info.shape.length !== rank) throw new CheckpointError(key, `should have rank ${rank}`, `rank ${rank}`, JSON.stringify(info.shape));
  return info.shape;
}

/**
 * Derives the configuration from canonical tensor names (see keys.ts) with MODEL_SPEC §2's rules
 * (H and F as the value every block agrees on, equal to §2's for any consistent checkpoint). Only
 * the derivation is checked here; every tensor's shape is checked against the derived
 * configuration by `expectedTensors`.
 */
export function deriveMmditConfig(tensors: Infos): MmditConfig {
  const pe = need(tensors, 'x_embedder.proj.weight', 4) as [number, number, number, number];
  const [, inChannels, patch] = pe;
  if (pe[3] !== patch) throw new CheckpointError('x_embedder.proj.weight', 'patch embedding must be square', '[H, C, p, p]', JSON.stringify(pe));
  let depth = 0;
  const dual = new Set<number>();
  for (const name of tensors.keys()) {
    const m = /^joint_blocks\.(\d+)\.(.*)$/.exec(name);
    if (!m) continue;
    const i = Number(m[1]);
    depth = Math.max(depth, i + 1);
    if ((m[2] as string).startsWith('x_block.attn2.')) dual.add(i);
  }
  if (depth === 0) throw new CheckpointError('joint_blocks.0.*', 'no joint blocks found');
  // H and F are read from every block and the most common value wins: in a consistent checkpoint
  // this is MODEL_SPEC §2's value, and in a damaged one the odd tensor out is the one reported.
  const hidden = modeOf(tensors, /^joint_blocks\.\d+\.(context|x)_block\.attn\.qkv\.weight$/, 1) ?? (pe[0] as number);
  const mlpHidden = modeOf(tensors, /^joint_blocks\.\d+\.(context|x)_block\.mlp\.fc1\.weight$/, 0) ?? need(tensors, 'joint_blocks.0.x_block.mlp.fc1.weight', 2)[0] as number;
  const qkNorm = tensors.has('joint_blocks.0.context_block.attn.ln_qk.weight');
  const headDim = qkNorm ? headDimOfNorm(need(tensors, 'joint_blocks.0.context_block.attn.ln_qk.weight', 1)[0] as number) : HEAD_DIM;
  if (hidden % headDim !== 0) {
    throw new CheckpointError('joint_blocks.0.x_block.attn.qkv.weight', `hidden width must be a multiple of the head width ${headDim}`, `[3H, H] with H = ${headDim}·heads`, String(hidden));
  }
  const finalRows = need(tensors, 'final_layer.linear.weight', 2)[0] as number;
  if (finalRows % (patch * patch) !== 0) {
    throw new CheckpointError('final_layer.linear.weight', `rows must be a multiple of p² = ${patch * patch}`, `[p²·C_out, ${hidden}]`, String(finalRows));
  }
  const pos = need(tensors, 'pos_embed', 3);
  const posEmbedMaxSize = Math.round(Math.sqrt(pos[1] as number));
  if (posEmbedMaxSize * posEmbedMaxSize !== pos[1]) {
    throw new CheckpointError('pos_embed', 'position table rows must be a square M·M', `[1, M·M, ${hidden}]`, JSON.stringify(pos));
  }
  const frequencyDim = need(tensors, 't_embedder.mlp.0.weight', 2)[1] as number;
  if (frequencyDim % 2 !== 0) throw new CheckpointError('t_embedder.mlp.0.weight', 'timestep feature width must be even', '[H, 2k]', String(frequencyDim));
  return {
    hidden,
    heads: hidden / headDim,
    headDim,
    depth,
    patch,
    inChannels,
    outChannels: finalRows / (patch * patch),
    posEmbedMaxSize,
    contextDim: need(tensors, 'context_embedder.weight', 2)[1] as number,
    pooledDim: need(tensors, 'y_embedder.mlp.0.weight', 2)[1] as number,
    mlpHidden,
    frequencyDim,
    qkNorm,
    dualAttentionLayers: [...dual].sort((a, b) => a - b),
  };
}

/** ln_q ‖ ln_k is two heads wide; the head width must be even so that q and k split evenly. */
function headDimOfNorm(length: number): number {
  if (length < 2 || length % 2 !== 0) {
    throw new CheckpointError('joint_blocks.0.context_block.attn.ln_qk.weight', 'QK-norm scales must be ln_q ‖ ln_k, one head wide each', '[2·head width]', String(length));
  }
  return length / 2;
}

/** The most common size of dimension `dim` among rank-2 tensors whose names match (ties: first seen). */
function modeOf(tensors: Infos, pattern: RegExp, dim: number): number | undefined {
  const counts = new Map<number, number>();
  for (const [name, info] of tensors) {
    if (pattern.test(name) && info.shape.length === 2) counts.set(info.shape[dim] as number, (counts.get(info.shape[dim] as number) ?? 0) + 1);
  }
  let best: number | undefined;
  for (const [size, count] of counts) if (best === undefined || count > (counts.get(best) as number)) best = size;
  return best;
}

/** Number of adaLN chunks of a stream (MODEL_SPEC §3.5). */
export function modulationChunks(c: MmditConfig, block: number, stream: 'context_block' | 'x_block'): number {
  if (stream === 'context_block') return block === c.depth - 1 ? 2 : 6;
  return c.dualAttentionLayers.includes(block) ? 9 : 6;
}

/** Every canonical tensor a checkpoint of this configuration holds, with its shape. */
export function expectedTensors(c: MmditConfig): Map<string, readonly number[]> {
  const { hidden: H, patch: p, mlpHidden: F } = c;
  const out = new Map<string, readonly number[]>();
  const linear = (name: string, rows: number, cols: number) => {
    out.set(`${name}.weight`, [rows, cols]);
    out.set(`${name}.bias`, [rows]);
  };
  out.set('x_embedder.proj.weight', [H, c.inChannels, p, p]);
  out.set('x_embedder.proj.bias', [H]);
  out.set('pos_embed', [1, c.posEmbedMaxSize * c.posEmbedMaxSize, H]);
  linear('t_embedder.mlp.0', H, c.frequencyDim);
  linear('t_embedder.mlp.2', H, H);
  linear('y_embedder.mlp.0', H, c.pooledDim);
  linear('y_embedder.mlp.2', H, H);
  linear('context_embedder', H, c.contextDim);
  for (let i = 0; i < c.depth; i++) {
    for (const stream of ['context_block', 'x_block'] as const) {
      const s = `joint_blocks.${i}.${stream}`;
      const preOnly = stream === 'context_block' && i === c.depth - 1;
      linear(`${s}.adaLN_modulation.1`, modulationChunks(c, i, stream) * H, H);
      linear(`${s}.attn.qkv`, 3 * H, H);
      if (c.qkNorm) out.set(`${s}.attn.ln_qk.weight`, [2 * c.headDim]);
      if (preOnly) continue;
      linear(`${s}.attn.proj`, H, H);
      linear(`${s}.mlp.fc1`, F, H);
      linear(`${s}.mlp.fc2`, H, F);
    }
    if (c.dualAttentionLayers.includes(i)) {
      linear(`joint_blocks.${i}.x_block.attn2.qkv`, 3 * H, H);
      linear(`joint_blocks.${i}.x_block.attn2.proj`, H, H);
      if (c.qkNorm) out.set(`joint_blocks.${i}.x_block.attn2.ln_qk.weight`, [2 * c.headDim]);
    }
  }
  linear('final_layer.adaLN_modulation.1', 2 * H, H);
  linear('final_layer.linear', p * p * c.outChannels, H);
  return out;
}
