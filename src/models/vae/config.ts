import { CheckpointError, InvalidArgumentError } from '../../errors.js';
import type { TensorInfo } from '../../weights/tensor-source.js';

/**
 * The SD3 VAE's architecture, derived from canonical tensor shapes (TEXT_VAE_SPEC §6). Levels are
 * numbered as the reference numbers them: 0 = full resolution, each further level halves it.
 */
export interface VaeConfig {
  /** `ch_l` per level (SD3: [128, 256, 512, 512]). */
  readonly channels: readonly number[];
  readonly latentChannels: number;
  readonly imageChannels: number;
  /** Resnets per decoder level (SD3: 3) and per encoder level (SD3: 2); 0 when that half is absent. */
  readonly decoderBlocks: number;
  readonly encoderBlocks: number;
  readonly hasDecoder: boolean;
  readonly hasEncoder: boolean;
  readonly groups: number;
  readonly eps: number;
  /** SD3LatentFormat: process_in(z) = (z − shift)·scale, process_out(l) = l/scale + shift. */
  readonly scale: number;
  readonly shift: number;
}

/** What tensor shapes cannot show; the defaults are SD3's. */
export interface VaeOverrides {
  readonly groups?: number;
  readonly eps?: number;
  readonly scale?: number;
  readonly shift?: number;
}

export const SD3_VAE_DEFAULTS = { groups: 32, eps: 1e-6, scale: 1.5305, shift: 0.0609 } as const;

function shapeOf(tensors: ReadonlyMap<string, TensorInfo>, name: string): readonly number[] {
  const info = tensors.get(name);
  if (!info) throw new CheckpointError(name, 'is missing');
  return info.shape;
}

function levelsOf(tensors: ReadonlyMap<string, TensorInfo>, prefix: string): number[] {
  const found = new Set<number>();
  for (const name of tensors.keys()) {
    const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)\\.`).exec(name);
    if (m) found.add(Number(m[1]));
  }
  return Array.from({ length: Math.max(-1, ...found) + 1 }, (_, i) => i);
}

function blocksOf(tensors: ReadonlyMap<string, TensorInfo>, levelPrefix: string): number {
  return levelsOf(tensors, `${levelPrefix}block.`).length;
}

/** Derives the configuration from canonical tensor names and shapes; contradictions name a key. */
export function deriveVaeConfig(tensors: ReadonlyMap<string, TensorInfo>, o: VaeOverrides = {}): VaeConfig {
  const hasDecoder = tensors.has('decoder.conv_in.weight');
  const hasEncoder = tensors.has('encoder.conv_in.weight');
  if (!hasDecoder && !hasEncoder) throw new CheckpointError('decoder.conv_in.weight', 'the checkpoint holds neither a VAE decoder nor an encoder');
  let channels: number[] = [];
  let latentChannels = 0;
  let imageChannels = 3;
  let decoderBlocks = 0;
  let encoderBlocks = 0;
  if (hasDecoder) {
    const levels = levelsOf(tensors, 'decoder.up.');
    if (levels.length === 0) throw new CheckpointError('decoder.up.0.block.0.conv1.weight', 'is missing (no decoder levels)');
    channels = levels.map((l) => shapeOf(tensors, `decoder.up.${l}.block.0.conv1.weight`)[0] as number);
    decoderBlocks = blocksOf(tensors, 'decoder.up.0.');
    latentChannels = shapeOf(tensors, 'decoder.conv_in.weight')[3] as number;
    imageChannels = shapeOf(tensors, 'decoder.conv_out.weight')[0] as number;
  }
  if (hasEncoder) {
    const levels = levelsOf(tensors, 'encoder.down.');
    if (levels.length === 0) throw new CheckpointError('encoder.down.0.block.0.conv1.weight', 'is missing (no encoder levels)');
    const encChannels = levels.map((l) => shapeOf(tensors, `encoder.down.${l}.block.0.conv1.weight`)[0] as number);
    if (hasDecoder && (encChannels.length !== channels.length || encChannels.some((c, i) => c !== channels[i]))) {
      throw new CheckpointError('encoder.down.0.block.0.conv1.weight', 'encoder and decoder levels disagree', JSON.stringify(channels), JSON.stringify(encChannels));
    }
    channels = encChannels;
    encoderBlocks = blocksOf(tensors, 'encoder.down.0.');
    const moments = shapeOf(tensors, 'encoder.conv_out.weight')[0] as number;
    if (hasDecoder && moments !== 2 * latentChannels) {
      throw new CheckpointError('encoder.conv_out.weight', 'the encoder must emit mean and logvar for every latent channel', `${2 * latentChannels} output channels`, String(moments));
    }
    latentChannels = moments / 2;
  }
  const groups = o.groups ?? SD3_VAE_DEFAULTS.groups;
  for (const c of channels) {
    if (c % groups !== 0 || c % 4 !== 0) throw new CheckpointError('decoder.up.0.block.0.conv1.weight', `channel counts must be multiples of 4 and of ${groups} groups`, `multiples of ${groups}`, JSON.stringify(channels));
  }
  if (imageChannels !== 3) throw new CheckpointError('decoder.conv_out.weight', 'the VAE must produce RGB images', '3 output channels', String(imageChannels));
  const eps = o.eps ?? SD3_VAE_DEFAULTS.eps;
  const scale = o.scale ?? SD3_VAE_DEFAULTS.scale;
  const shift = o.shift ?? SD3_VAE_DEFAULTS.shift;
  if (!(eps > 0) || !(scale !== 0) || !Number.isFinite(shift)) throw new InvalidArgumentError('VAE eps/scale/shift', 'eps > 0, scale ≠ 0, finite shift', { eps, scale, shift });
  return { channels, latentChannels, imageChannels, decoderBlocks, encoderBlocks, hasDecoder, hasEncoder, groups, eps, scale, shift };
}

function resnetShapes(out: Map<string, readonly number[]>, p: string, cin: number, cout: number): void {
  out.set(`${p}.norm1.weight`, [cin]);
  out.set(`${p}.norm1.bias`, [cin]);
  out.set(`${p}.conv1.weight`, [cout, 3, 3, cin]);
  out.set(`${p}.conv1.bias`, [cout]);
  out.set(`${p}.norm2.weight`, [cout]);
  out.set(`${p}.norm2.bias`, [cout]);
  out.set(`${p}.conv2.weight`, [cout, 3, 3, cout]);
  out.set(`${p}.conv2.bias`, [cout]);
  if (cin !== cout) {
    out.set(`${p}.nin_shortcut.weight`, [cout, 1, 1, cin]);
    out.set(`${p}.nin_shortcut.bias`, [cout]);
  }
}

function midShapes(out: Map<string, readonly number[]>, p: string, c: number): void {
  resnetShapes(out, `${p}.mid.block_1`, c, c);
  out.set(`${p}.mid.attn_1.norm.weight`, [c]);
  out.set(`${p}.mid.attn_1.norm.bias`, [c]);
  out.set(`${p}.mid.attn_1.qkv.weight`, [3 * c, 1, 1, c]);
  out.set(`${p}.mid.attn_1.qkv.bias`, [3 * c]);
  out.set(`${p}.mid.attn_1.proj_out.weight`, [c, 1, 1, c]);
  out.set(`${p}.mid.attn_1.proj_out.bias`, [c]);
  resnetShapes(out, `${p}.mid.block_2`, c, c);
}

function convShapes(out: Map<string, readonly number[]>, p: string, cout: number, k: number, cin: number): void {
  out.set(`${p}.weight`, [cout, k, k, cin]);
  out.set(`${p}.bias`, [cout]);
}

/** Every canonical tensor the configuration reads, with its shape. */
export function expectedVaeTensors(c: VaeConfig): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  const levels = c.channels.length;
  const top = c.channels[levels - 1] as number;
  const bottom = c.channels[0] as number;
  const pad4 = (n: number) => Math.ceil(n / 4) * 4;
  if (c.hasDecoder) {
    convShapes(out, 'decoder.conv_in', top, 3, pad4(c.latentChannels));
    midShapes(out, 'decoder', top);
    let prev = top;
    for (let l = levels - 1; l >= 0; l--) {
      const ch = c.channels[l] as number;
      for (let j = 0; j < c.decoderBlocks; j++) {
        resnetShapes(out, `decoder.up.${l}.block.${j}`, j === 0 ? prev : ch, ch);
      }
      if (l !== 0) convShapes(out, `decoder.up.${l}.upsample.conv`, ch, 3, ch);
      prev = ch;
    }
    out.set('decoder.norm_out.weight', [bottom]);
    out.set('decoder.norm_out.bias', [bottom]);
    convShapes(out, 'decoder.conv_out', c.imageChannels, 3, bottom);
  }
  if (c.hasEncoder) {
    convShapes(out, 'encoder.conv_in', bottom, 3, pad4(c.imageChannels));
    let prev = bottom;
    for (let l = 0; l < levels; l++) {
      const ch = c.channels[l] as number;
      for (let j = 0; j < c.encoderBlocks; j++) resnetShapes(out, `encoder.down.${l}.block.${j}`, j === 0 ? prev : ch, ch);
      if (l !== levels - 1) convShapes(out, `encoder.down.${l}.downsample.conv`, ch, 3, ch);
      prev = ch;
    }
    midShapes(out, 'encoder', top);
    out.set('encoder.norm_out.weight', [top]);
    out.set('encoder.norm_out.bias', [top]);
    convShapes(out, 'encoder.conv_out', 2 * c.latentChannels, 3, top);
  }
  return out;
}
