import { CheckpointError } from '../../errors.js';
import type { TensorDtype, TensorInfo, TensorSource } from '../../weights/tensor-source.js';
import { concatBytes } from '../canonical-view.js';

/**
 * SD3 VAE checkpoints → canonical names and layouts (TEXT_VAE_SPEC §6). Layouts read:
 * - reference (`sd3_impls`): `decoder.*` / `encoder.*`, alone or under a prefix such as the
 *   full checkpoint's `first_stage_model.`;
 * - diffusers `AutoencoderKL` (`vae/diffusion_pytorch_model.safetensors`): `up_blocks` in reverse
 *   level order, `resnets`, `mid_block.attentions.0.{to_q,to_k,to_v,to_out.0}` as `[C, C]`;
 * - canonical names (converted manifests), optionally under a prefix.
 * A checkpoint may hold the decoder, the encoder or both.
 *
 * Canonical names are the reference names, with three layout changes made here and nowhere else:
 * every conv weight is `[out, kh, kw, in]` (from `[out, in, kh, kw]`) so the implicit-GEMM K runs
 * contiguously over NHWC pixels; input channels are zero-padded to a multiple of 4 (the kernel
 * reads channels as vec4; only the encoder's RGB `conv_in` changes, its fourth channel meets the
 * zero fourth channel of the image); the attention's q, k, v 1×1 convs are fused along rows into
 * `mid.attn_1.qkv.{weight,bias}` (`[3C, 1, 1, C]`), one dispatch for all three.
 */

type Transform = 'conv' | 'none';

/** One canonical tensor: its checkpoint parts (fused along rows) and how each part is laid out. */
interface Entry {
  readonly parts: readonly string[];
  readonly transform: Transform;
}

export type VaeLayout = 'reference' | 'diffusers' | 'canonical';

export interface CanonicalVae {
  readonly source: TensorSource;
  readonly layout: VaeLayout;
  readonly prefix: string;
  /** The checkpoint name(s) behind a canonical name, for error messages. */
  readonly describe: (canonical: string) => string;
}

export interface VaeKeyOptions {
  /** Where the VAE's keys start (e.g. `first_stage_model.`); found automatically when absent. */
  readonly prefix?: string;
}

const MARKS: readonly (readonly [string, VaeLayout])[] = [
  ['decoder.norm_out.weight', 'reference'],
  ['encoder.norm_out.weight', 'reference'],
  ['decoder.conv_norm_out.weight', 'diffusers'],
  ['encoder.conv_norm_out.weight', 'diffusers'],
  ['decoder.mid.attn_1.qkv.weight', 'canonical'],
  ['encoder.mid.attn_1.qkv.weight', 'canonical'],
];

function findLayouts(source: TensorSource): { prefix: string; layout: VaeLayout }[] {
  const found = new Map<string, { prefix: string; layout: VaeLayout }>();
  for (const name of source.tensors.keys()) {
    for (const [mark, layout] of MARKS) {
      if (!name.endsWith(mark)) continue;
      const prefix = name.slice(0, -mark.length);
      const seen = found.get(prefix);
      // A canonical mark wins over reference marks (canonical names keep `norm_out`).
      if (!seen || layout === 'canonical') found.set(prefix, { prefix, layout });
    }
  }
  return [...found.values()];
}

function indices(source: TensorSource, prefix: string): number[] {
  const found = new Set<number>();
  for (const name of source.tensors.keys()) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(name.slice(prefix.length));
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

function has(source: TensorSource, name: string): boolean {
  return source.tensors.has(name);
}

type Entries = Map<string, Entry>;

function addConv(e: Entries, canonical: string, original: string): void {
  e.set(`${canonical}.weight`, { parts: [`${original}.weight`], transform: 'conv' });
  e.set(`${canonical}.bias`, { parts: [`${original}.bias`], transform: 'none' });
}

function addNorm(e: Entries, canonical: string, original: string): void {
  e.set(`${canonical}.weight`, { parts: [`${original}.weight`], transform: 'none' });
  e.set(`${canonical}.bias`, { parts: [`${original}.bias`], transform: 'none' });
}

/** A resnet's entries; the 1×1 shortcut (named `shortcut` in the checkpoint) only where present. */
function addResnet(e: Entries, source: TensorSource, canonical: string, original: string, shortcut: string): void {
  addNorm(e, `${canonical}.norm1`, `${original}.norm1`);
  addConv(e, `${canonical}.conv1`, `${original}.conv1`);
  addNorm(e, `${canonical}.norm2`, `${original}.norm2`);
  addConv(e, `${canonical}.conv2`, `${original}.conv2`);
  if (has(source, `${original}.${shortcut}.weight`)) addConv(e, `${canonical}.nin_shortcut`, `${original}.${shortcut}`);
}

function addAttention(e: Entries, canonical: string, names: { norm: string; q: string; k: string; v: string; proj: string }): void {
  addNorm(e, `${canonical}.norm`, names.norm);
  const qkv = [names.q, names.k, names.v];
  e.set(`${canonical}.qkv.weight`, { parts: qkv.map((p) => `${p}.weight`), transform: 'conv' });
  e.set(`${canonical}.qkv.bias`, { parts: qkv.map((p) => `${p}.bias`), transform: 'none' });
  addConv(e, `${canonical}.proj_out`, names.proj);
}

function referenceEntries(source: TensorSource, prefix: string): Entries {
  const e: Entries = new Map();
  for (const part of ['encoder', 'decoder'] as const) {
    const p = `${prefix}${part}.`;
    if (!has(source, `${p}conv_in.weight`) && !has(source, `${p}norm_out.weight`)) continue;
    addConv(e, `${part}.conv_in`, `${p}conv_in`);
    for (const block of ['block_1', 'block_2']) addResnet(e, source, `${part}.mid.${block}`, `${p}mid.${block}`, 'nin_shortcut');
    const a = `${p}mid.attn_1`;
    addAttention(e, `${part}.mid.attn_1`, { norm: `${a}.norm`, q: `${a}.q`, k: `${a}.k`, v: `${a}.v`, proj: `${a}.proj_out` });
    const levels = part === 'encoder' ? 'down' : 'up';
    const sampler = part === 'encoder' ? 'downsample' : 'upsample';
    for (const l of indices(source, `${p}${levels}.`)) {
      for (const j of indices(source, `${p}${levels}.${l}.block.`)) addResnet(e, source, `${part}.${levels}.${l}.block.${j}`, `${p}${levels}.${l}.block.${j}`, 'nin_shortcut');
      if (has(source, `${p}${levels}.${l}.${sampler}.conv.weight`)) addConv(e, `${part}.${levels}.${l}.${sampler}.conv`, `${p}${levels}.${l}.${sampler}.conv`);
    }
    addNorm(e, `${part}.norm_out`, `${p}norm_out`);
    addConv(e, `${part}.conv_out`, `${p}conv_out`);
  }
  return e;
}

function diffusersEntries(source: TensorSource, prefix: string): Entries {
  const e: Entries = new Map();
  for (const part of ['encoder', 'decoder'] as const) {
    const p = `${prefix}${part}.`;
    if (!has(source, `${p}conv_in.weight`) && !has(source, `${p}conv_norm_out.weight`)) continue;
    addConv(e, `${part}.conv_in`, `${p}conv_in`);
    addResnet(e, source, `${part}.mid.block_1`, `${p}mid_block.resnets.0`, 'conv_shortcut');
    addResnet(e, source, `${part}.mid.block_2`, `${p}mid_block.resnets.1`, 'conv_shortcut');
    const a = `${p}mid_block.attentions.0`;
    addAttention(e, `${part}.mid.attn_1`, { norm: `${a}.group_norm`, q: `${a}.to_q`, k: `${a}.to_k`, v: `${a}.to_v`, proj: `${a}.to_out.0` });
    const blocks = part === 'encoder' ? 'down_blocks' : 'up_blocks';
    const sampler = part === 'encoder' ? 'downsamplers' : 'upsamplers';
    const canonicalSampler = part === 'encoder' ? 'downsample' : 'upsample';
    const levels = indices(source, `${p}${blocks}.`);
    for (const i of levels) {
      // diffusers lists decoder levels from the lowest resolution: up_blocks.i is level L−1−i.
      const canonical = part === 'encoder' ? `encoder.down.${i}` : `decoder.up.${levels.length - 1 - i}`;
      for (const j of indices(source, `${p}${blocks}.${i}.resnets.`)) addResnet(e, source, `${canonical}.block.${j}`, `${p}${blocks}.${i}.resnets.${j}`, 'conv_shortcut');
      if (has(source, `${p}${blocks}.${i}.${sampler}.0.conv.weight`)) addConv(e, `${canonical}.${canonicalSampler}.conv`, `${p}${blocks}.${i}.${sampler}.0.conv`);
    }
    addNorm(e, `${part}.norm_out`, `${p}conv_norm_out`);
    addConv(e, `${part}.conv_out`, `${p}conv_out`);
  }
  return e;
}

function canonicalEntries(source: TensorSource, prefix: string): Entries {
  const entries: Entries = new Map();
  for (const name of source.tensors.keys()) {
    if (name.startsWith(prefix) && (name.startsWith(`${prefix}encoder.`) || name.startsWith(`${prefix}decoder.`))) {
      entries.set(name.slice(prefix.length), { parts: [name], transform: 'none' });
    }
  }
  return entries;
}

const ELEMENT_BYTES: Readonly<Partial<Record<TensorDtype, number>>> = { F32: 4, F16: 2, BF16: 2 };

/** The padded input-channel count of a conv weight. */
const padChannels = (c: number) => Math.ceil(c / 4) * 4;

function partInfo(source: TensorSource, part: string, canonical: string): TensorInfo {
  const info = source.tensors.get(part);
  if (!info) throw new CheckpointError(part, `is missing from ${source.origin} (needed for ${canonical})`);
  if (ELEMENT_BYTES[info.dtype] === undefined) {
    throw new CheckpointError(part, 'VAE tensors must be F32, F16 or BF16 (the VAE is never quantised)', 'F32 | F16 | BF16', info.dtype);
  }
  return info;
}

/** A conv part's `[out, in, kh, kw]` (a diffusers attention `[out, in]` is a 1×1 conv). */
function convDims(info: TensorInfo): [number, number, number, number] {
  if (info.shape.length === 2) return [info.shape[0] as number, info.shape[1] as number, 1, 1];
  if (info.shape.length === 4) return info.shape as unknown as [number, number, number, number];
  throw new CheckpointError(info.name, 'is not a conv weight', '[out, in, kh, kw] or [out, in]', JSON.stringify(info.shape));
}

function canonicalInfo(source: TensorSource, name: string, entry: Entry): TensorInfo {
  const infos = entry.parts.map((p) => partInfo(source, p, name));
  const first = infos[0] as TensorInfo;
  let shape: number[];
  if (entry.transform === 'conv') {
    const [, cin, kh, kw] = convDims(first);
    let rows = 0;
    for (const info of infos) {
      const [out, c, h, w] = convDims(info);
      if (info.dtype !== first.dtype || c !== cin || h !== kh || w !== kw) {
        throw new CheckpointError(info.name, `cannot be fused into ${name} with ${first.name}`, `${first.dtype} [*, ${cin}, ${kh}, ${kw}]`, `${info.dtype} ${JSON.stringify(info.shape)}`);
      }
      rows += out;
    }
    shape = [rows, kh, kw, padChannels(cin)];
  } else {
    for (const info of infos) {
      if (info.dtype !== first.dtype || info.shape.length !== first.shape.length || info.shape.some((d, i) => i > 0 && d !== first.shape[i])) {
        throw new CheckpointError(info.name, `cannot be fused into ${name} with ${first.name}`, `${first.dtype} [*, ${first.shape.slice(1).join(', ')}]`, `${info.dtype} ${JSON.stringify(info.shape)}`);
      }
    }
    shape = infos.length === 1 ? [...first.shape] : [infos.reduce((n, i) => n + (i.shape[0] ?? 1), 0), ...first.shape.slice(1)];
  }
  const size = ELEMENT_BYTES[first.dtype] as number;
  return { name, shape, dtype: first.dtype, byteLength: shape.reduce((p, d) => p * d, 1) * size };
}

/** `[out, in, kh, kw]` element bytes → `[out, kh, kw, padded in]`, padding with zeros. */
export function reorderConv(bytes: Uint8Array, dims: readonly [number, number, number, number], elementBytes: number): Uint8Array {
  const [out, cin, kh, kw] = dims;
  const cinP = padChannels(cin);
  if (cinP === cin && kh === 1 && kw === 1) return bytes;
  const dst = new Uint8Array(out * kh * kw * cinP * elementBytes);
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < cin; c++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const from = (((o * cin + c) * kh + y) * kw + x) * elementBytes;
          const to = (((o * kh + y) * kw + x) * cinP + c) * elementBytes;
          for (let k = 0; k < elementBytes; k++) dst[to + k] = bytes[from + k] as number;
        }
      }
    }
  }
  return dst;
}

function view(source: TensorSource, entries: ReadonlyMap<string, Entry>, origin: string): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of entries) tensors.set(name, canonicalInfo(source, name, entry));
  return {
    origin,
    tensors,
    async read(name, signal) {
      const entry = entries.get(name);
      if (!entry) throw new CheckpointError(name, `is not a canonical VAE tensor of ${origin}`);
      const chunks: Uint8Array[] = [];
      for (const part of entry.parts) {
        const info = partInfo(source, part, name);
        const bytes = await source.read(part, signal);
        chunks.push(entry.transform === 'conv' ? reorderConv(bytes, convDims(info), ELEMENT_BYTES[info.dtype] as number) : bytes);
      }
      return concatBytes(chunks);
    },
  };
}

function checkNoUnexpected(source: TensorSource, prefix: string, entries: ReadonlyMap<string, Entry>): void {
  const used = new Set<string>();
  for (const entry of entries.values()) for (const p of entry.parts) used.add(p);
  for (const name of source.tensors.keys()) {
    if (!name.startsWith(prefix) || used.has(name)) continue;
    const rest = name.slice(prefix.length);
    if (!rest.startsWith('encoder.') && !rest.startsWith('decoder.')) continue;
    throw new CheckpointError(name, `is not a tensor of the SD3 VAE (from ${source.origin})`);
  }
}

/**
 * The VAE of `source` under canonical names. Tensors under the prefix beginning `encoder.` or
 * `decoder.` that the VAE does not read are a CheckpointError naming them; other tensors (the rest
 * of a full SD3 checkpoint) are ignored.
 */
export function canonicalVaeSource(source: TensorSource, o: VaeKeyOptions = {}): CanonicalVae {
  let layouts = findLayouts(source);
  if (o.prefix !== undefined) layouts = layouts.filter((l) => l.prefix === o.prefix);
  const [found] = layouts;
  if (!found) throw new CheckpointError(`${o.prefix ?? ''}decoder.norm_out.weight`, `no SD3 VAE (encoder or decoder) in ${source.origin}`);
  if (layouts.length > 1) {
    throw new CheckpointError('decoder.norm_out.weight', `${source.origin} holds several VAEs (prefixes ${layouts.map((l) => JSON.stringify(l.prefix)).join(', ')}); pass prefix`);
  }
  const { prefix, layout } = found;
  const entries = layout === 'canonical' ? canonicalEntries(source, prefix) : layout === 'diffusers' ? diffusersEntries(source, prefix) : referenceEntries(source, prefix);
  if (layout !== 'canonical') checkNoUnexpected(source, prefix, entries);
  const origin = prefix ? `${source.origin} (${prefix})` : source.origin;
  return {
    source: view(source, entries, origin),
    layout,
    prefix,
    describe: (name) => entries.get(name)?.parts.join(' + ') ?? `${prefix}${name}`,
  };
}
