import { CheckpointError, InvalidArgumentError } from '../../errors.js';
import type { TensorInfo } from '../../weights/tensor-source.js';
import { checkTensorSet } from '../canonical-view.js';

/** Which of SD3's two CLIP text encoders a checkpoint is: they differ in activation and pooling. */
export type ClipModel = 'clip_l' | 'clip_g';
/** quick_gelu: OpenAI CLIP (L); gelu_erf: OpenCLIP bigG (G); gelu_tanh for checkpoints that name it. */
export type ClipActivation = 'quick_gelu' | 'gelu_erf' | 'gelu_tanh';

/** A CLIP text transformer (TEXT_VAE_SPEC.md §3), derived from canonical tensor names and shapes. */
export interface ClipConfig {
  readonly model: ClipModel;
  readonly vocabSize: number;
  /** Rows of the position table: the longest sequence the model reads (77 in every release). */
  readonly maxPositions: number;
  /** Width D. */
  readonly hidden: number;
  readonly heads: number;
  readonly headDim: number;
  readonly layers: number;
  /** MLP width M. */
  readonly mlpHidden: number;
  /** CLIP-L (OpenAI): quick GELU; CLIP-G (OpenCLIP bigG): exact GELU. */
  readonly activation: ClipActivation;
  /** Width of `text_projection` rows, or null when the checkpoint has no projection. */
  readonly projectionDim: number | null;
  /** SD3's pooled rule: CLIP-G's pooled vector is projected, CLIP-L's is not. */
  readonly projectPooled: boolean;
  readonly eps: number;
}

/**
 * What shapes cannot tell: the head count (D/64 in every release; held-out widths need it given),
 * and L vs G where neither the key prefix nor the width (768 / 1280) says which.
 */
export interface ClipOverrides {
  readonly model?: ClipModel;
  readonly heads?: number;
  readonly activation?: ClipActivation;
  readonly projectPooled?: boolean;
  readonly eps?: number;
}

/** Real widths of the two released encoders, used only when nothing else names the model. */
const WIDTH_MODEL: ReadonlyMap<number, ClipModel> = new Map([[768, 'clip_l'], [1280, 'clip_g']]);
const RELEASE_HEAD_DIM = 64;
export const CLIP_LAYER_NORM_EPS = 1e-5;

type Infos = ReadonlyMap<string, TensorInfo>;

function need(tensors: Infos, key: string, rank: number): readonly number[] {
  const info = tensors.get(key);
  if (!info) throw new CheckpointError(key, 'is missing; it is needed to derive the CLIP configuration');
  if (info.shape.length !== rank) throw new CheckpointError(key, `should have rank ${rank}`, `rank ${rank}`, JSON.stringify(info.shape));
  return info.shape;
}

/**
 * Derives the configuration from canonical names (keys.ts). `hint` is the model the key prefix
 * named (`text_encoders.clip_g.…`), if any; an explicit override wins over both hint and width.
 */
export function deriveClipConfig(tensors: Infos, overrides: ClipOverrides = {}, hint: ClipModel | null = null): ClipConfig {
  const [vocabSize, hidden] = need(tensors, 'token_embedding.weight', 2) as [number, number];
  const maxPositions = need(tensors, 'position_embedding.weight', 2)[0] as number;
  let layers = 0;
  for (const name of tensors.keys()) {
    const m = /^layers\.(\d+)\./.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]) + 1);
  }
  if (layers === 0) throw new CheckpointError('layers.0.*', 'no transformer layers found');
  const mlpHidden = need(tensors, 'layers.0.mlp.fc1.weight', 2)[0] as number;
  const model = overrides.model ?? hint ?? WIDTH_MODEL.get(hidden);
  if (!model) {
    throw new CheckpointError('token_embedding.weight', `width ${hidden} does not say whether this is CLIP-L or CLIP-G; pass model: 'clip_l' | 'clip_g'`, '768 or 1280', String(hidden));
  }
  const heads = overrides.heads ?? hidden / RELEASE_HEAD_DIM;
  if (!Number.isInteger(heads) || heads < 1 || hidden % heads !== 0) {
    throw new InvalidArgumentError('CLIP heads', `a divisor of the width ${hidden} (pass heads for non-release widths)`, heads);
  }
  const projection = tensors.get('text_projection.weight');
  if (projection && (projection.shape.length !== 2 || projection.shape[1] !== hidden)) {
    throw new CheckpointError('text_projection.weight', 'has the wrong shape', `[P, ${hidden}]`, JSON.stringify(projection.shape));
  }
  const projectPooled = overrides.projectPooled ?? model === 'clip_g';
  if (projectPooled && !projection) throw new CheckpointError('text_projection.weight', 'is missing; the pooled output is projected');
  return {
    model,
    vocabSize,
    maxPositions,
    hidden,
    heads,
    headDim: hidden / heads,
    layers,
    mlpHidden,
    activation: overrides.activation ?? (model === 'clip_l' ? 'quick_gelu' : 'gelu_erf'),
    projectionDim: projection ? (projection.shape[0] as number) : null,
    projectPooled,
    eps: overrides.eps ?? CLIP_LAYER_NORM_EPS,
  };
}

/** Every canonical tensor of this configuration with its shape (text_projection only if present). */
export function expectedClipTensors(c: ClipConfig): Map<string, readonly number[]> {
  const D = c.hidden;
  const out = new Map<string, readonly number[]>();
  const linear = (name: string, rows: number, cols: number) => {
    out.set(`${name}.weight`, [rows, cols]);
    out.set(`${name}.bias`, [rows]);
  };
  const norm = (name: string) => {
    out.set(`${name}.weight`, [D]);
    out.set(`${name}.bias`, [D]);
  };
  out.set('token_embedding.weight', [c.vocabSize, D]);
  out.set('position_embedding.weight', [c.maxPositions, D]);
  for (let i = 0; i < c.layers; i++) {
    norm(`layers.${i}.layer_norm1`);
    linear(`layers.${i}.attn.qkv`, 3 * D, D);
    linear(`layers.${i}.attn.out`, D, D);
    norm(`layers.${i}.layer_norm2`);
    linear(`layers.${i}.mlp.fc1`, c.mlpHidden, D);
    linear(`layers.${i}.mlp.fc2`, D, c.mlpHidden);
  }
  norm('final_layer_norm');
  if (c.projectionDim !== null) out.set('text_projection.weight', [c.projectionDim, D]);
  return out;
}

/**
 * Missing, unexpected or mis-shaped canonical tensors → CheckpointError naming the first one, by
 * its checkpoint name(s) when `describe` maps canonical names back.
 */
export function checkClipTensors(tensors: Infos, c: ClipConfig, describe: (name: string) => string = (n) => n): void {
  checkTensorSet(tensors, expectedClipTensors(c), describe);
}
