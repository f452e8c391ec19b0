import { InvalidArgumentError } from '../../errors.js';
import type { MmditConfig } from './config.js';

/** Steps one sampling run can take (the per-step tables are sized for it once, when a graph compiles). */
export const MAX_STEPS = 200;

/** The shape a denoiser graph is compiled for. */
export interface DenoiserShape {
  /** Images (latent rows). With `cfg` the forward batch is 2·batch: cond rows, then uncond rows. */
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  /** Context tokens L. */
  readonly contextLength: number;
  /**
   * How many identical context rows the last of the L stands for (default 1). With T5 absent its
   * zero rows are identical, and identical rows stay so through every layer: 77 CLIP rows and one
   * zero row counted 77 times give the forward of 154 rows with half the context work.
   */
  readonly lastContextRowCount?: number;
  /** Classifier-free guidance: context/pooled hold cond rows then uncond rows. */
  readonly cfg: boolean;
  /** Keep the per-layer intermediates readable (MODEL_SPEC §7 names) in `taps`. */
  readonly taps?: boolean;
}

/** The graph-cache key of a shape. */
export function denoiserShapeKey(s: DenoiserShape): string {
  return `${s.batch}|${s.latentHeight}|${s.latentWidth}|${s.contextLength}×${s.lastContextRowCount ?? 1}|${s.cfg}|${s.taps === true}`;
}

/** MODEL_SPEC §3.7 and DESIGN §11: rejected before any GPU work, naming the value and the range. */
export function checkDenoiserShape(c: MmditConfig, s: DenoiserShape): void {
  const posInt = (name: string, v: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < 1 || v > max) throw new InvalidArgumentError(name, `an integer in 1…${max}`, v);
  };
  posInt('batch', s.batch, 64);
  posInt('contextLength', s.contextLength, 65536);
  if (s.lastContextRowCount !== undefined) posInt('lastContextRowCount', s.lastContextRowCount, 65536);
  const max = c.patch * c.posEmbedMaxSize;
  for (const [name, v] of [['latentHeight', s.latentHeight], ['latentWidth', s.latentWidth]] as const) {
    if (!Number.isInteger(v) || v < c.patch || v % c.patch !== 0 || v > max) {
      throw new InvalidArgumentError(name, `a positive multiple of the patch size ${c.patch} up to ${max} (patch × pos_embed_max_size ${c.posEmbedMaxSize})`, v);
    }
  }
  if (typeof s.cfg !== 'boolean') throw new InvalidArgumentError('cfg', 'true or false', s.cfg);
}

/** Shapes of one forward call's tensors in the checkpoint's layout (MODEL_SPEC §3). */
export interface ForwardInputShapes {
  readonly x: readonly number[];
  readonly t: readonly number[];
  readonly context: readonly number[];
  readonly y: readonly number[];
}

/**
 * MODEL_SPEC §3.7: checks a forward call's tensors against the configuration before any GPU work
 * and returns the compile shape; errors name the tensor, the value and the allowed range.
 */
export function checkForwardInputs(c: MmditConfig, s: ForwardInputShapes): DenoiserShape {
  const dims = (name: string, shape: readonly number[], rank: number, what: string) => {
    if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new InvalidArgumentError(`${name} shape`, what, shape);
  };
  dims('x', s.x, 4, '[B, C, Hl, Wl]');
  dims('t', s.t, 1, '[B]');
  dims('context', s.context, 3, '[B, L, D]');
  dims('y', s.y, 2, '[B, A]');
  const [batch, channels, latentHeight, latentWidth] = s.x as [number, number, number, number];
  if (channels !== c.inChannels) throw new InvalidArgumentError('x channels (dim 1)', `${c.inChannels} (from x_embedder.proj.weight)`, channels);
  if (s.context[2] !== c.contextDim) throw new InvalidArgumentError('context width (dim 2)', `${c.contextDim} (from context_embedder.weight)`, s.context[2]);
  if (s.y[1] !== c.pooledDim) throw new InvalidArgumentError('y width (dim 1)', `${c.pooledDim} (from y_embedder.mlp.0.weight)`, s.y[1]);
  for (const [name, shape] of [['t', s.t], ['context', s.context], ['y', s.y]] as const) {
    if (shape[0] !== batch) throw new InvalidArgumentError(`${name} batch (dim 0)`, `${batch}, the batch of x`, shape[0]);
  }
  const shape: DenoiserShape = { batch, latentHeight, latentWidth, contextLength: s.context[1] as number, cfg: false };
  checkDenoiserShape(c, shape);
  return shape;
}
