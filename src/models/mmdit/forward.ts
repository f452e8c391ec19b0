import { CheckpointError } from '../../errors.js';
import type { GraphBuilder, Value } from '../../graph/builder.js';
import { attention, type SeqOperand } from '../../kernels/attention.js';
import { copyRows, stepRows } from '../../kernels/copy-rows.js';
import { binary, unary } from '../../kernels/elementwise.js';
import { layerNormModulate } from '../../kernels/layer-norm.js';
import { denseLayout, linear } from '../../kernels/matmul.js';
import { patchEmbed } from '../../kernels/patch-embed.js';
import { rmsNorm } from '../../kernels/rms-norm.js';
import { unpatchify } from '../../kernels/unpatchify.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { WeightMap } from '../upload.js';
import type { MmditConfig } from './config.js';
import { chunkLayout, tokenChunks } from './row-chunks.js';

/** MODEL_SPEC §3: every LayerNorm and RMSNorm of the MM-DiT uses eps 1e-6. */
const EPS = 1e-6;

export interface MmditShape {
  /** Rows of the forward batch (cond rows then uncond rows under CFG). */
  readonly batch: number;
  /** Rows of the latent input; divides `batch` (CFG: batch / 2, both halves read the same latent). */
  readonly latentBatch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  readonly contextLength: number;
  /**
   * How many identical context rows the last one stands for (default 1). Absent T5's zero rows
   * stay identical through every layer, so one row, whose key counts n times in every softmax
   * (a key bias of ln n), gives the forward of all n: DenoiserShape.lastContextRowCount.
   */
  readonly lastContextRowCount?: number;
  /** Rows of the per-step timestep-feature table. */
  readonly steps: number;
}

/** Graph input and output names of the denoiser graph. */
export const MMDIT_IO = {
  latent: 'latent',
  context: 'context',
  pooled: 'pooled',
  timesteps: 'timesteps',
  velocity: 'velocity',
} as const;

/**
 * Records the MM-DiT forward (MODEL_SPEC §3) on `b`. Inputs: `latent` f32 `[Bl, C, Hl, Wl]`,
 * `context` `[B, L, D]`, `pooled` `[B, A]`, `timesteps` `[steps, B, 256]` (sinusoidal features
 * computed on the CPU in float64; row `step` is read through the step state); output `velocity`
 * f32 `[B, C_out, Hl, Wl]`. `pos` is the position table already cropped to the token grid.
 * Taps carry the vector names of MODEL_SPEC §7.
 */
export function mmditForward(b: GraphBuilder, w: WeightMap, c: MmditConfig, s: MmditShape, pos: GpuTensor): Value {
  const W = (name: string): GpuTensor => {
    const t = w.get(name);
    if (!t) throw new CheckpointError(name, 'missing from the uploaded MM-DiT weights');
    return t;
  };
  const lin = (x: Value, name: string, o: Parameters<typeof linear>[3] = {}) =>
    linear(b, x, W(`${name}.weight`), { bias: W(`${name}.bias`), label: name, ...o });
  const { batch: B, contextLength: L } = s;
  const H = c.hidden;
  const N = (s.latentHeight / c.patch) * (s.latentWidth / c.patch);
  const J = L + N;

  const latent = b.input(MMDIT_IO.latent, [s.latentBatch, c.inChannels, s.latentHeight, s.latentWidth], 'f32');
  const context = b.input(MMDIT_IO.context, [B, L, c.contextDim]);
  const pooled = b.input(MMDIT_IO.pooled, [B, c.pooledDim]);
  const table = b.input(MMDIT_IO.timesteps, [s.steps, B, c.frequencyDim]);

  // Conditioning vector c = t_emb + y_emb; every modulation reads SiLU(c).
  const tFreq = b.tap('t_freq', stepRows(b, table, 't_freq'));
  const tEmb = b.tap('t_emb', lin(lin(tFreq, 't_embedder.mlp.0', { epilogue: 'silu' }), 't_embedder.mlp.2'));
  const yEmb = b.tap('y_emb', lin(lin(pooled, 'y_embedder.mlp.0', { epilogue: 'silu' }), 'y_embedder.mlp.2'));
  const cond = b.tap('c', binary(b, 'add', tEmb, yEmb, 'c'));
  const siluC = unary(b, 'silu', cond, { label: 'silu(c)' });

  // The collapsed rows' weight: ln n on the last context key of the joint sequence (context first).
  const repeat = s.lastContextRowCount ?? 1;
  let keyBias: Value | null = null;
  if (repeat > 1) {
    const data = new Float32Array(J);
    data[L - 1] = Math.log(repeat);
    keyBias = b.constant('context row counts', [J], 'f32', data);
  }

  let x = b.tap('x_embed', patchEmbed(b, latent, { weight: W('x_embedder.proj.weight'), bias: W('x_embedder.proj.bias'), pos, batch: B }));
  let ctx = b.tap('context_embed', lin(context, 'context_embedder'));

  for (let i = 0; i < c.depth; i++) {
    const last = i === c.depth - 1;
    const dual = c.dualAttentionLayers.includes(i);
    const pre = `joint_blocks.${i}`;
    const cm = b.tap(`block${i}.context_mod`, lin(siluC, `${pre}.context_block.adaLN_modulation.1`));
    const xm = b.tap(`block${i}.x_mod`, lin(siluC, `${pre}.x_block.adaLN_modulation.1`));
    const aCtx = layerNormModulate(b, ctx, { mod: cm, shiftCol: 0, scaleCol: H, tokensPerBatch: L, eps: EPS });
    const aX = layerNormModulate(b, x, { mod: xm, shiftCol: 0, scaleCol: H, tokensPerBatch: N, eps: EPS });

    // Joint q, k, v [B, L+N, ·], context rows first (MODEL_SPEC §3.5).
    const joint = jointQkv(b, c, W, [
      { a: aCtx, name: `${pre}.context_block.attn`, rows: L, offset: 0 },
      { a: aX, name: `${pre}.x_block.attn`, rows: N, offset: L },
    ], B, J);
    tapHeads(b, `block${i}`, joint, B, J, H);
    // The last block's context stream only contributes K and V: only image queries are computed.
    const qLen = last ? N : J;
    const o = attention(b, {
      q: { ...joint.q, rowOffset: last ? L : 0 },
      k: joint.k,
      v: joint.v,
      batch: B,
      heads: c.heads,
      headDim: c.headDim,
      qLen,
      kvLen: J,
      scale: 1 / Math.sqrt(c.headDim),
      keyBias,
      label: `${pre}.attn`,
    });
    b.tap(`block${i}.attn`, o);

    if (!last) {
      const ctx1 = lin(o, `${pre}.context_block.attn.proj`, {
        rows: B * L,
        xLayout: { seg: L, segRows: J, offset: 0, col: 0, stride: H },
        into: { value: b.temp([B, L, H], `${pre}.context_block.attn_out`), layout: denseLayout(B * L, H) },
        gate: { value: cm, seg: L, col: 2 * H },
        residual: ctx,
      });
      ctx = b.tap(`block${i}.context_out`, mlp(b, lin, ctx1, cm, `${pre}.context_block`, L, H, c.mlpHidden));
    }

    let x1 = lin(o, `${pre}.x_block.attn.proj`, {
      rows: B * N,
      xLayout: { seg: N, segRows: qLen, offset: qLen - N, col: 0, stride: H },
      into: { value: b.temp([B, N, H], `${pre}.x_block.attn_out`), layout: denseLayout(B * N, H) },
      gate: { value: xm, seg: N, col: 2 * H },
      residual: x,
    });
    if (dual) {
      // MMDiT-X: a second self-attention over the image tokens, from the same LN(x) with its own
      // modulation (chunks 6, 7, 8), applied after the joint attention's update.
      const a2 = layerNormModulate(b, x, { mod: xm, shiftCol: 6 * H, scaleCol: 7 * H, tokensPerBatch: N, eps: EPS });
      const self = jointQkv(b, c, W, [{ a: a2, name: `${pre}.x_block.attn2`, rows: N, offset: 0 }], B, N);
      tapHeads(b, `block${i}`, self, B, N, H, '2');
      const o2 = attention(b, {
        q: self.q, k: self.k, v: self.v,
        batch: B, heads: c.heads, headDim: c.headDim, qLen: N, kvLen: N,
        scale: 1 / Math.sqrt(c.headDim),
        label: `${pre}.attn2`,
      });
      b.tap(`block${i}.attn2`, o2);
      x1 = lin(o2, `${pre}.x_block.attn2.proj`, { gate: { value: xm, seg: N, col: 8 * H }, residual: x1 });
    }
    x = b.tap(`block${i}.x_out`, mlp(b, lin, x1, xm, `${pre}.x_block`, N, H, c.mlpHidden));
  }

  const fm = b.tap('final_mod', lin(siluC, 'final_layer.adaLN_modulation.1'));
  const z = layerNormModulate(b, x, { mod: fm, shiftCol: 0, scaleCol: H, tokensPerBatch: N, eps: EPS });
  const out = b.tap('final_out', lin(z, 'final_layer.linear'));
  const velocity = unpatchify(b, out, { channels: c.outChannels, height: s.latentHeight, width: s.latentWidth, patch: c.patch, label: 'velocity' });
  return b.output(MMDIT_IO.velocity, velocity);
}

type Lin = (x: Value, name: string, o?: Parameters<typeof linear>[3]) => Value;

/** Bytes of one activation element of the graph being recorded. */
function actBytes(b: GraphBuilder): number {
  return b.precision === 'f16' ? 2 : 4;
}

/** Whether `[rows, cols]` activations fit one binding under the engine's cap. */
function fitsBinding(b: GraphBuilder, rows: number, cols: number): boolean {
  return rows * cols * actBytes(b) <= b.caps.maxStorageBufferBindingSize;
}

/**
 * `s + gate_mlp · fc2(GELU_tanh(fc1(mod(LN(s), shift_mlp, scale_mlp))))`. When the hidden
 * `[B·tokens, F]` would exceed the binding cap, fc1 → fc2 runs per token range: each chunk's
 * hidden rows are a small temp, and fc2 writes its rows of the output (adding the same rows of
 * the residual).
 */
function mlp(b: GraphBuilder, lin: Lin, s: Value, mod: Value, stream: string, tokens: number, H: number, F: number): Value {
  const a = layerNormModulate(b, s, { mod, shiftCol: 3 * H, scaleCol: 4 * H, tokensPerBatch: tokens, eps: EPS });
  const B = s.shape[0] as number;
  if (fitsBinding(b, B * tokens, F)) {
    const h = lin(a, `${stream}.mlp.fc1`, { epilogue: 'gelu_tanh' });
    return lin(h, `${stream}.mlp.fc2`, { gate: { value: mod, seg: tokens, col: 5 * H }, residual: s });
  }
  const out = b.temp(s.shape, `${stream}.mlp_out`);
  for (const chunk of tokenChunks(tokens, B, F * actBytes(b), b.caps.maxStorageBufferBindingSize, `${stream}.mlp.fc1`)) {
    const rows = B * chunk.rows;
    const part = `[${chunk.start}:${chunk.start + chunk.rows}]`;
    const h = lin(a, `${stream}.mlp.fc1`, {
      epilogue: 'gelu_tanh',
      rows,
      xLayout: chunkLayout(chunk, tokens, H),
      into: { value: b.temp([rows, F], `${stream}.mlp.fc1${part}`), layout: denseLayout(rows, F) },
      label: `${stream}.mlp.fc1${part}`,
    });
    lin(h, `${stream}.mlp.fc2`, {
      gate: { value: mod, seg: chunk.rows, col: 5 * H },
      residual: s,
      into: { value: out, layout: chunkLayout(chunk, tokens, H) },
      label: `${stream}.mlp.fc2${part}`,
    });
  }
  return out;
}

interface JointQkv {
  readonly q: SeqOperand;
  readonly k: SeqOperand;
  readonly v: SeqOperand;
}

/**
 * q, k, v of one or more streams laid side by side along tokens in one `[B, rows, ·]` value.
 * Without QK-norm every stream's qkv matmul writes straight into its rows of a joint
 * `[B, rows, 3H]`. With QK-norm each stream has its own ln_q ‖ ln_k, so a stream's qkv is
 * normalised on its own (rmsNorm over its first 2H columns, per 64-wide head) and then its q,k
 * and v columns are copied into a joint `[B, rows, 2H]` and `[B, rows, H]`.
 */
function jointQkv(
  b: GraphBuilder,
  c: MmditConfig,
  W: (name: string) => GpuTensor,
  streams: readonly { a: Value; name: string; rows: number; offset: number }[],
  B: number,
  rows: number,
): JointQkv {
  const H = c.hidden;
  const at = (value: Value, stride: number, col: number): SeqOperand => ({ value, rowsPerBatch: rows, rowOffset: 0, rowStride: stride, col });
  const into = (value: Value, s: { rows: number; offset: number }, stride: number, col = 0) =>
    ({ value, layout: { seg: s.rows, segRows: rows, offset: s.offset, col, stride } });
  const qkvOf = (s: (typeof streams)[number], target?: { value: Value; layout: ReturnType<typeof into>['layout'] }) =>
    linear(b, s.a, W(`${s.name}.qkv.weight`), {
      bias: W(`${s.name}.qkv.bias`),
      label: `${s.name}.qkv`,
      ...(target ? { rows: B * s.rows, into: target } : {}),
    });
  if (!fitsBinding(b, B * rows, 3 * H)) return chunkedQkv(b, c, W, streams, B, rows);
  if (!c.qkNorm) {
    const joint = streams.length === 1 ? qkvOf(streams[0]!) : b.temp([B, rows, 3 * H], 'qkv');
    if (streams.length > 1) for (const s of streams) qkvOf(s, into(joint, s, 3 * H));
    return { q: at(joint, 3 * H, 0), k: at(joint, 3 * H, H), v: at(joint, 3 * H, 2 * H) };
  }
  const normed = streams.map((s) => {
    const qkv = qkvOf(s);
    const qk = rmsNorm(b, qkv, { weight: W(`${s.name}.ln_qk.weight`), group: c.headDim, segment: H, cols: 2 * H, eps: EPS, label: `${s.name}.qk_norm` });
    return { s, qkv, qk };
  });
  if (normed.length === 1) {
    const { qkv, qk } = normed[0]!;
    return { q: at(qk, 2 * H, 0), k: at(qk, 2 * H, H), v: at(qkv, 3 * H, 2 * H) };
  }
  const qk = b.temp([B, rows, 2 * H], 'qk');
  const v = b.temp([B, rows, H], 'v');
  for (const n of normed) {
    copyRows(b, { rows: B * n.s.rows, cols: 2 * H, src: { value: n.qk }, into: into(qk, n.s, 2 * H), label: `${n.s.name}.qk→joint` });
    copyRows(b, {
      rows: B * n.s.rows,
      cols: H,
      src: { value: n.qkv, layout: { ...denseLayout(B * n.s.rows, 3 * H), col: 2 * H } },
      into: into(v, n.s, H),
      label: `${n.s.name}.v→joint`,
    });
  }
  return { q: at(qk, 2 * H, 0), k: at(qk, 2 * H, H), v: at(v, H, 0) };
}

/**
 * jointQkv for sequences whose fused `[B·rows, 3H]` would exceed the binding cap: q, k and v get
 * their own `[B, rows, H]` values, and each stream's qkv matmul (with its QK-norm) runs per token
 * range into a chunk-sized temp whose columns are copied into the three.
 */
function chunkedQkv(
  b: GraphBuilder,
  c: MmditConfig,
  W: (name: string) => GpuTensor,
  streams: readonly { a: Value; name: string; rows: number; offset: number }[],
  B: number,
  rows: number,
): JointQkv {
  const H = c.hidden;
  const [q, k, v] = ['q', 'k', 'v'].map((n) => b.temp([B, rows, H], n)) as [Value, Value, Value];
  for (const s of streams) {
    for (const chunk of tokenChunks(s.rows, B, 3 * H * actBytes(b), b.caps.maxStorageBufferBindingSize, `${s.name}.qkv`)) {
      const m = B * chunk.rows;
      const part = `[${chunk.start}:${chunk.start + chunk.rows}]`;
      const qkv = linear(b, s.a, W(`${s.name}.qkv.weight`), {
        bias: W(`${s.name}.qkv.bias`),
        rows: m,
        xLayout: chunkLayout(chunk, s.rows, H),
        into: { value: b.temp([m, 3 * H], `${s.name}.qkv${part}`), layout: denseLayout(m, 3 * H) },
        label: `${s.name}.qkv${part}`,
      });
      const qk = c.qkNorm
        ? rmsNorm(b, qkv, { weight: W(`${s.name}.ln_qk.weight`), group: c.headDim, segment: H, cols: 2 * H, eps: EPS, label: `${s.name}.qk_norm${part}` })
        : qkv;
      const from = (value: Value, col: number) => ({ value, layout: { ...denseLayout(m, value.shape.at(-1) as number), col } });
      for (const [name, src, dst] of [['q', from(qk, 0), q], ['k', from(qk, H), k], ['v', from(qkv, 2 * H), v]] as const) {
        copyRows(b, { rows: m, cols: H, src, into: { value: dst, layout: chunkLayout(chunk, rows, H, s.offset) }, label: `${s.name}.${name}${part}→joint` });
      }
    }
  }
  const at = (value: Value): SeqOperand => ({ value, rowsPerBatch: rows, rowOffset: 0, rowStride: H, col: 0 });
  return { q: at(q), k: at(k), v: at(v) };
}

/** Debug taps `block{i}.q/k/v{suffix}` `[B, rows, H]`: column copies, recorded only when taps are kept. */
function tapHeads(b: GraphBuilder, block: string, j: JointQkv, B: number, rows: number, H: number, suffix = ''): void {
  if (!b.keepTaps) return;
  for (const [name, op] of [['q', j.q], ['k', j.k], ['v', j.v]] as const) {
    const out = copyRows(b, {
      rows: B * rows,
      cols: H,
      src: { value: op.value, layout: { ...denseLayout(B * rows, op.rowStride), col: op.col } },
      label: `${block}.${name}${suffix}`,
    });
    b.tap(`${block}.${name}${suffix}`, out);
  }
}
