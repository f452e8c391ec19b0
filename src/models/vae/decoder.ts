import type { GraphBuilder, Value } from '../../graph/builder.js';
import { toRgba } from '../../kernels/to-rgba.js';
import { vaeLatentIn } from '../../kernels/vae-latent-in.js';
import type { WeightMap } from '../upload.js';
import { type BandLayoutInfo, type BandPlan, bandLayoutOf, type FeatureMap, type MapKind, mapFromWhole, tapMap } from './bands.js';
import { attentionBlock, convBlock, normOut, resnetBlock } from './blocks.js';
import type { VaeConfig } from './config.js';

/** Image rows per latent row (8 in SD3: three 2× upsamplings). */
export function vaeScale(c: VaeConfig): number {
  return 2 ** (c.channels.length - 1);
}

/** The maps a decode creates, for band planning: per resolution, the widest channel count. */
export function decoderMapKinds(c: VaeConfig): MapKind[] {
  const levels = c.channels.length;
  const kinds: MapKind[] = [{ scale: 1, channels: Math.max(c.latentChannels, c.channels[levels - 1] as number) }];
  for (let l = levels - 1; l >= 0; l--) {
    const scale = 2 ** (levels - 1 - l);
    kinds.push({ scale, channels: Math.max(c.channels[l] as number, (c.channels[l + 1] as number | undefined) ?? 0) });
  }
  return kinds;
}

export interface DecoderIo {
  /** Denoiser-space latent, f32 NCHW `[batch, C, h, w]` as the sampler holds it (process_out is applied here). */
  readonly latent: Value;
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  readonly plan: BandPlan;
  /** Receives where each tapped map's bands live, to read taps back whole. */
  readonly layouts?: Map<string, BandLayoutInfo>;
}

export interface DecoderOutputs {
  /** Packed RGBA8, u32 `[batch, H·W]`. */
  readonly rgba: Value;
  /** The float image `[batch, H·W, 3]` (≈ [−1, 1]) in bands. */
  readonly image: FeatureMap;
}

/**
 * The SD3 VAE decoder (TEXT_VAE_SPEC §6) as graph ops: process_out, conv_in, mid (resnet, attention,
 * resnet), the up levels from the lowest resolution with their upsamplings, norm_out + SiLU,
 * conv_out, then the uint8 conversion. Taps: `z`, `conv_in`, `mid.block_1`, `mid.attn_1`,
 * `mid.block_2`, `up.{l}.block`, `up.{l}.upsample`, `image` (`name#j` per band when split).
 */
export function vaeDecoderForward(b: GraphBuilder, w: WeightMap, c: VaeConfig, io: DecoderIo): DecoderOutputs {
  const levels = c.channels.length;
  const tap = (name: string, map: FeatureMap): FeatureMap => {
    io.layouts?.set(name, bandLayoutOf(map));
    return tapMap(b, name, map);
  };
  const z = vaeLatentIn(b, io.latent, { scale: c.scale, shift: c.shift });
  b.tap('z', z);
  let x = mapFromWhole(b, z, io.plan, { scale: 1, width: io.latentWidth, label: 'z' });
  x = tap('conv_in', convBlock(b, w, x, 'decoder.conv_in'));
  x = tap('mid.block_1', resnetBlock(b, w, c, x, 'decoder.mid.block_1'));
  x = tap('mid.attn_1', attentionBlock(b, w, c, x, 'decoder.mid.attn_1'));
  x = tap('mid.block_2', resnetBlock(b, w, c, x, 'decoder.mid.block_2'));
  for (let l = levels - 1; l >= 0; l--) {
    for (let j = 0; j < c.decoderBlocks; j++) x = resnetBlock(b, w, c, x, `decoder.up.${l}.block.${j}`);
    tap(`up.${l}.block`, x);
    if (l !== 0) x = tap(`up.${l}.upsample`, convBlock(b, w, x, `decoder.up.${l}.upsample.conv`, { mode: 'upsample' }));
  }
  const image = tap('image', convBlock(b, w, normOut(b, w, c, x, 'decoder'), 'decoder.conv_out'));
  const rgba = b.temp([io.batch, image.height * image.width], 'rgba', 'u32');
  for (const band of image.bands) toRgba(b, band.view, rgba, { width: image.width, height: image.height, row0: band.row0, rows: band.rows });
  return { rgba, image };
}
