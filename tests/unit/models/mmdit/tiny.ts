import { bytesSource } from '../../../../src/weights/byte-source.js';
import { encodeF16, encodeF32 } from '../../../../src/weights/decode.js';
import { openSafetensors, type SafetensorsSource } from '../../../../src/weights/safetensors.js';
import { encodeSafetensors, type SafetensorsTensor } from '../../../../src/weights/safetensors-write.js';
import { randomArray } from '../../../reference/random.js';
import type { RefConfig } from '../../../reference/mmdit.js';

/** Tiny random MM-DiT checkpoints in either key layout, for wiring and canonicalisation tests. */

export interface TinyTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Tensors under their original names without prefix (ln_q / ln_k separate). */
export function tinyMmdit(c: RefConfig, seed = 1): Map<string, TinyTensor> {
  const H = c.hidden;
  const dh = c.headDim ?? 64;
  const out = new Map<string, TinyTensor>();
  let s = seed;
  const add = (name: string, shape: number[], scale: number, offset = 0) =>
    out.set(name, { shape, data: randomArray(shape.reduce((p, d) => p * d, 1), s++, offset - scale, offset + scale) });
  const lin = (name: string, rows: number, cols: number, gain = 1) => {
    add(`${name}.weight`, [rows, cols], gain / Math.sqrt(cols));
    add(`${name}.bias`, [rows], 0.1);
  };
  add('x_embedder.proj.weight', [H, c.inChannels, c.patch, c.patch], 1 / Math.sqrt(c.inChannels * c.patch * c.patch));
  add('x_embedder.proj.bias', [H], 0.1);
  add('pos_embed', [1, c.posEmbedMaxSize ** 2, H], 0.5);
  lin('t_embedder.mlp.0', H, 256);
  lin('t_embedder.mlp.2', H, H);
  lin('y_embedder.mlp.0', H, c.pooledDim);
  lin('y_embedder.mlp.2', H, H);
  lin('context_embedder', H, c.contextDim);
  for (let i = 0; i < c.depth; i++) {
    for (const stream of ['context_block', 'x_block'] as const) {
      const p = `joint_blocks.${i}.${stream}`;
      const preOnly = stream === 'context_block' && i === c.depth - 1;
      const chunks = preOnly ? 2 : stream === 'x_block' && c.dual.includes(i) ? 9 : 6;
      lin(`${p}.adaLN_modulation.1`, chunks * H, H, 0.5);
      lin(`${p}.attn.qkv`, 3 * H, H);
      if (c.qkNorm) {
        add(`${p}.attn.ln_q.weight`, [dh], 0.3, 1);
        add(`${p}.attn.ln_k.weight`, [dh], 0.3, 1);
      }
      if (preOnly) continue;
      lin(`${p}.attn.proj`, H, H);
      lin(`${p}.mlp.fc1`, c.mlpHidden, H);
      lin(`${p}.mlp.fc2`, H, c.mlpHidden);
    }
    if (c.dual.includes(i)) {
      const p = `joint_blocks.${i}.x_block.attn2`;
      lin(`${p}.qkv`, 3 * H, H);
      lin(`${p}.proj`, H, H);
      if (c.qkNorm) {
        add(`${p}.ln_q.weight`, [dh], 0.3, 1);
        add(`${p}.ln_k.weight`, [dh], 0.3, 1);
      }
    }
  }
  lin('final_layer.adaLN_modulation.1', 2 * H, H, 0.5);
  lin('final_layer.linear', c.patch * c.patch * c.outChannels, H);
  return out;
}

function rows(t: TinyTensor, from: number, count: number): TinyTensor {
  const width = t.shape.slice(1).reduce((p, d) => p * d, 1);
  return { shape: [count, ...t.shape.slice(1)], data: t.data.slice(from * width, (from + count) * width) };
}

function swapHalves(t: TinyTensor): TinyTensor {
  const half = (t.shape[0] as number) / 2;
  const a = rows(t, 0, half);
  const b = rows(t, half, half);
  const data = new Float32Array(t.data.length);
  data.set(b.data);
  data.set(a.data, b.data.length);
  return { shape: t.shape, data };
}

/** The same tensors under diffusers names (MODEL_SPEC §5): q/k/v split, final/last-context halves swapped. */
export function toDiffusers(tensors: ReadonlyMap<string, TinyTensor>, depth: number): Map<string, TinyTensor> {
  const out = new Map<string, TinyTensor>();
  const top: Record<string, string> = {
    pos_embed: 'pos_embed.pos_embed',
    'x_embedder.proj': 'pos_embed.proj',
    't_embedder.mlp.0': 'time_text_embed.timestep_embedder.linear_1',
    't_embedder.mlp.2': 'time_text_embed.timestep_embedder.linear_2',
    'y_embedder.mlp.0': 'time_text_embed.text_embedder.linear_1',
    'y_embedder.mlp.2': 'time_text_embed.text_embedder.linear_2',
    context_embedder: 'context_embedder',
    'final_layer.linear': 'proj_out',
  };
  for (const [name, t] of tensors) {
    const base = name.replace(/\.(weight|bias)$/, '');
    const suffix = name.slice(base.length);
    if (name === 'pos_embed') {
      out.set('pos_embed.pos_embed', t);
      continue;
    }
    if (top[base]) {
      out.set(`${top[base]}${suffix}`, t);
      continue;
    }
    if (base === 'final_layer.adaLN_modulation.1') {
      out.set(`norm_out.linear${suffix}`, swapHalves(t));
      continue;
    }
    const m = /^joint_blocks\.(\d+)\.(context_block|x_block)\.(.*)$/.exec(base) as RegExpExecArray;
    const [i, stream, rest] = [Number(m[1]), m[2], m[3]];
    const ctx = stream === 'context_block';
    const pre = `transformer_blocks.${i}`;
    const H = (t.shape.length === 2 ? t.shape[1] : t.shape[0]) as number;
    const hidden = rest === 'attn.qkv' || rest === 'attn2.qkv' ? (t.shape[0] as number) / 3 : H;
    switch (rest) {
      case 'adaLN_modulation.1':
        out.set(`${pre}.${ctx ? 'norm1_context' : 'norm1'}.linear${suffix}`, ctx && i === depth - 1 ? swapHalves(t) : t);
        break;
      case 'attn.qkv':
      case 'attn2.qkv':
        ['q', 'k', 'v'].forEach((x, j) => {
          const key = rest === 'attn2.qkv' ? `attn2.to_${x}` : ctx ? `attn.add_${x}_proj` : `attn.to_${x}`;
          out.set(`${pre}.${key}${suffix}`, rows(t, j * hidden, hidden));
        });
        break;
      case 'attn.proj':
        out.set(`${pre}.attn.${ctx ? 'to_add_out' : 'to_out.0'}${suffix}`, t);
        break;
      case 'attn2.proj':
        out.set(`${pre}.attn2.to_out.0${suffix}`, t);
        break;
      case 'attn.ln_q':
      case 'attn.ln_k':
        out.set(`${pre}.attn.norm_${ctx ? 'added_' : ''}${rest.slice(-1)}${suffix}`, t);
        break;
      case 'attn2.ln_q':
      case 'attn2.ln_k':
        out.set(`${pre}.attn2.norm_${rest.slice(-1)}${suffix}`, t);
        break;
      case 'mlp.fc1':
        out.set(`${pre}.${ctx ? 'ff_context' : 'ff'}.net.0.proj${suffix}`, t);
        break;
      case 'mlp.fc2':
        out.set(`${pre}.${ctx ? 'ff_context' : 'ff'}.net.2${suffix}`, t);
        break;
      default:
        throw new Error(`toDiffusers: unmapped ${name}`);
    }
  }
  return out;
}

function bf16Bytes(values: Float32Array): Uint8Array {
  const f = encodeF32(values);
  const out = new Uint8Array(values.length * 2);
  // Truncation is fine here: tests compare against the decoded values, not the f32 originals.
  for (let i = 0; i < values.length; i++) out.set(f.subarray(i * 4 + 2, i * 4 + 4), i * 2);
  return out;
}

export type TinyDtype = 'F32' | 'F16' | 'BF16';

/** Serialises tensors (names as given, optional prefix) as an in-memory safetensors file. */
export async function tinySafetensors(tensors: ReadonlyMap<string, TinyTensor>, o: { prefix?: string; dtype?: TinyDtype; extra?: readonly SafetensorsTensor[] } = {}): Promise<SafetensorsSource> {
  const dtype = o.dtype ?? 'F32';
  const list: SafetensorsTensor[] = [...tensors].map(([name, t]) => ({
    name: `${o.prefix ?? ''}${name}`,
    dtype,
    shape: t.shape,
    data: dtype === 'F32' ? encodeF32(t.data) : dtype === 'F16' ? encodeF16(t.data) : bf16Bytes(t.data),
  }));
  return openSafetensors(bytesSource(encodeSafetensors([...list, ...(o.extra ?? [])]), 'tiny.safetensors'));
}
