import { CheckpointError } from '../../errors.js';
import type { GraphBuilder } from '../../graph/builder.js';
import { attention } from '../../kernels/attention.js';
import { conv2d } from '../../kernels/conv2d.js';
import { wholeImage } from '../../kernels/image-rows.js';
import type { GpuTensor } from '../../tensor/tensor.js';
import type { WeightMap } from '../upload.js';
import { type FeatureMap, mapConv, mapGroupNorm, newMap } from './bands.js';
import type { VaeConfig } from './config.js';

/** The blocks shared by the SD3 VAE's encoder and decoder (TEXT_VAE_SPEC §6), over banded maps. */

export function vaeWeight(w: WeightMap, name: string): GpuTensor {
  const t = w.get(name);
  if (!t) throw new CheckpointError(name, 'is not loaded');
  return t;
}

function norm(b: GraphBuilder, w: WeightMap, c: VaeConfig, x: FeatureMap, prefix: string, silu: boolean): FeatureMap {
  return mapGroupNorm(b, x, { gamma: vaeWeight(w, `${prefix}.weight`), beta: vaeWeight(w, `${prefix}.bias`), silu, groups: c.groups, eps: c.eps, label: prefix });
}

export function convBlock(b: GraphBuilder, w: WeightMap, x: FeatureMap, prefix: string, o: { mode?: 'same' | 'upsample' | 'downsample'; residual?: FeatureMap } = {}): FeatureMap {
  return mapConv(b, x, { weight: vaeWeight(w, `${prefix}.weight`), bias: vaeWeight(w, `${prefix}.bias`), label: prefix, ...o });
}

/** Resnet(x) = S(x) + conv2(silu(GN2(conv1(silu(GN1(x)))))), S the 1×1 nin_shortcut when Cin ≠ Cout. */
export function resnetBlock(b: GraphBuilder, w: WeightMap, c: VaeConfig, x: FeatureMap, prefix: string): FeatureMap {
  const h1 = convBlock(b, w, norm(b, w, c, x, `${prefix}.norm1`, true), `${prefix}.conv1`);
  const h2 = norm(b, w, c, h1, `${prefix}.norm2`, true);
  const shortcut = w.has(`${prefix}.nin_shortcut.weight`) ? convBlock(b, w, x, `${prefix}.nin_shortcut`) : x;
  return convBlock(b, w, h2, `${prefix}.conv2`, { residual: shortcut });
}

/**
 * Attn(x) = x + proj_out(softmax(q·kᵀ/√C)·v), one head of width C over all h·w tokens of the
 * image: q, k, v come from one fused 1×1 conv written band by band into a whole-image `[B, h·w,
 * 3C]` value, so the attention sees every token however the map is split.
 */
export function attentionBlock(b: GraphBuilder, w: WeightMap, c: VaeConfig, x: FeatureMap, prefix: string): FeatureMap {
  const h = norm(b, w, c, x, `${prefix}.norm`, false);
  const channels = x.channels;
  const tokens = x.height * x.width;
  const qkv = b.temp([x.batch, tokens, 3 * channels], `${prefix}.qkv`);
  const whole = wholeImage(qkv, x.height);
  const qkvWeight = vaeWeight(w, `${prefix}.qkv.weight`);
  const qkvBias = vaeWeight(w, `${prefix}.qkv.bias`);
  for (const band of h.bands) {
    conv2d(b, band.view, { weight: qkvWeight, bias: qkvBias, inHeight: x.height, inWidth: x.width, outRow0: band.row0, outRows: band.rows, into: whole, label: `${prefix}.qkv` });
  }
  const operand = (col: number) => ({ value: qkv, rowsPerBatch: tokens, rowOffset: 0, rowStride: 3 * channels, col });
  const attended = attention(b, {
    q: operand(0),
    k: operand(channels),
    v: operand(2 * channels),
    batch: x.batch,
    heads: 1,
    headDim: channels,
    qLen: tokens,
    kvLen: tokens,
    scale: 1 / Math.sqrt(channels),
    label: `${prefix}.attention`,
  });
  const out = newMap(b, x.plan, { batch: x.batch, scale: x.scale, width: x.width, channels, label: prefix });
  const attendedView = wholeImage(attended, x.height);
  x.bands.forEach((band, j) => {
    const target = out.bands[j];
    if (!target) return;
    conv2d(b, attendedView, {
      weight: vaeWeight(w, `${prefix}.proj_out.weight`),
      bias: vaeWeight(w, `${prefix}.proj_out.bias`),
      inHeight: x.height,
      inWidth: x.width,
      outRow0: band.row0,
      outRows: band.rows,
      into: target.view,
      residual: band.view,
      label: `${prefix}.proj_out`,
    });
  });
  return out;
}

/** GroupNorm + SiLU, the last two steps before `conv_out` in both halves. */
export function normOut(b: GraphBuilder, w: WeightMap, c: VaeConfig, x: FeatureMap, prefix: string): FeatureMap {
  return norm(b, w, c, x, `${prefix}.norm_out`, true);
}
