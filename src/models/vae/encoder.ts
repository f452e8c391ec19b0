import type { GraphBuilder, Value } from '../../graph/builder.js';
import { fromRgba } from '../../kernels/from-rgba.js';
import { vaePosterior } from '../../kernels/vae-posterior.js';
import type { WeightMap } from '../upload.js';
import { type BandLayoutInfo, type BandPlan, bandLayoutOf, type FeatureMap, type MapKind, newMap, tapMap } from './bands.js';
import { attentionBlock, convBlock, normOut, resnetBlock } from './blocks.js';
import type { VaeConfig } from './config.js';

/** The maps an encode creates, for band planning: per resolution, the widest channel count. */
export function encoderMapKinds(c: VaeConfig): MapKind[] {
  const levels = c.channels.length;
  const kinds: MapKind[] = [];
  for (let l = 0; l < levels; l++) {
    const previous = l === 0 ? 4 : (c.channels[l - 1] as number);
    kinds.push({ scale: 2 ** (levels - 1 - l), channels: Math.max(c.channels[l] as number, previous) });
  }
  kinds.push({ scale: 1, channels: 2 * c.latentChannels });
  return kinds;
}

export interface EncoderIo {
  /** Packed RGBA8 pixels, u32 `[batch, H·W]` (alpha ignored). */
  readonly rgba: Value;
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  readonly plan: BandPlan;
  /** Receives where each tapped map's bands live, to read taps back whole. */
  readonly layouts?: Map<string, BandLayoutInfo>;
  /** f32 NCHW `[batch, C, h, w]` standard normal noise: the latent is then a posterior sample. */
  readonly noise?: Value | null;
}

/** f32 NCHW `[batch, C, h, w]` each (the sampler's latent layout). */
export interface EncoderOutputs {
  readonly mean: Value;
  readonly logvar: Value;
  /** process_in(mean) or process_in(sample): the denoiser-space latent. */
  readonly latent: Value;
  readonly moments: FeatureMap;
}

/**
 * The SD3 VAE encoder (TEXT_VAE_SPEC §6): image conversion 2·(u8/255) − 1, conv_in, the down levels
 * with their stride-2 downsamplings, mid, norm_out + SiLU, conv_out → moments, then the posterior.
 * Taps: `down.{l}.block`, `down.{l}.downsample`, `mid.block_1`, `mid.attn_1`, `mid.block_2`,
 * `moments` (`name#j` per band when split).
 */
export function vaeEncoderForward(b: GraphBuilder, w: WeightMap, c: VaeConfig, io: EncoderIo): EncoderOutputs {
  const levels = c.channels.length;
  const tap = (name: string, map: FeatureMap): FeatureMap => {
    io.layouts?.set(name, bandLayoutOf(map));
    return tapMap(b, name, map);
  };
  const scale = 2 ** (levels - 1);
  const width = io.latentWidth * scale;
  const height = io.latentHeight * scale;
  let x: FeatureMap = newMap(b, io.plan, { batch: io.batch, scale, width, channels: 4, label: 'image' });
  for (const band of x.bands) fromRgba(b, io.rgba, band.view, { width, height, row0: band.row0, rows: band.rows });
  x = convBlock(b, w, x, 'encoder.conv_in');
  for (let l = 0; l < levels; l++) {
    for (let j = 0; j < c.encoderBlocks; j++) x = resnetBlock(b, w, c, x, `encoder.down.${l}.block.${j}`);
    tap(`down.${l}.block`, x);
    if (l !== levels - 1) x = tap(`down.${l}.downsample`, convBlock(b, w, x, `encoder.down.${l}.downsample.conv`, { mode: 'downsample' }));
  }
  x = tap('mid.block_1', resnetBlock(b, w, c, x, 'encoder.mid.block_1'));
  x = tap('mid.attn_1', attentionBlock(b, w, c, x, 'encoder.mid.attn_1'));
  x = tap('mid.block_2', resnetBlock(b, w, c, x, 'encoder.mid.block_2'));
  const moments = tap('moments', convBlock(b, w, normOut(b, w, c, x, 'encoder'), 'encoder.conv_out'));
  const shape = [io.batch, c.latentChannels, io.latentHeight, io.latentWidth];
  const out = { mean: b.temp(shape, 'mean', 'f32'), logvar: b.temp(shape, 'logvar', 'f32'), latent: b.temp(shape, 'latent', 'f32') };
  for (const band of moments.bands) {
    vaePosterior(b, band.view, out, {
      width: io.latentWidth,
      height: io.latentHeight,
      row0: band.row0,
      rows: band.rows,
      shift: c.shift,
      scale: c.scale,
      noise: io.noise ?? null,
    });
  }
  return { ...out, moments };
}
