import { CheckpointError } from '../../errors.js';
import { encodeF32, toFloat32 } from '../../weights/decode.js';
import type { TensorDtype, TensorInfo, TensorSource } from '../../weights/tensor-source.js';
import { concatBytes } from '../canonical-view.js';
import { deriveMmditConfig, expectedTensors, type MmditConfig } from './config.js';

/**
 * The one canonicalisation step of the MM-DiT (DESIGN §5, MODEL_SPEC §5). Canonical names are the
 * original single-file names without the `model.diffusion_model.` prefix, except that each
 * attention's QK-norm scales are one tensor, `….attn.ln_qk.weight` / `….attn2.ln_qk.weight` =
 * ln_q ‖ ln_k ([128]), the layout the RMS-norm kernel reads. Diffusers names map to the same
 * canonical tensors: q/k/v rows stacked into `qkv`, and the (scale, shift) halves of `norm_out`
 * and of the last block's `norm1_context` swapped back to (shift, scale).
 */

export const ORIGINAL_PREFIX = 'model.diffusion_model.';
export type MmditLayout = 'original' | 'diffusers' | 'canonical';

/** How a canonical tensor is made from source tensors. */
interface Recipe {
  readonly parts: readonly string[];
  /** `concat`: rows of the parts in order; `swap`: the two row halves of one part exchanged. */
  readonly op: 'copy' | 'concat' | 'swap';
}

export interface CanonicalMmdit {
  readonly layout: MmditLayout;
  readonly config: MmditConfig;
  /** Canonical names → bytes, read on demand from the checkpoint. */
  readonly source: TensorSource;
  /** Checkpoint key(s) each canonical tensor comes from, for messages. */
  sourceKeys(canonical: string): readonly string[];
}

const ORIGINAL_MARKER = `${ORIGINAL_PREFIX}x_embedder.proj.weight`;
const DIFFUSERS_MARKER = 'pos_embed.proj.weight';

/** Which layout a tensor set is in (MODEL_SPEC §5: neither or both → reject, naming the keys). */
export function detectLayout(tensors: ReadonlyMap<string, TensorInfo>): MmditLayout {
  const original = tensors.has(ORIGINAL_MARKER);
  const diffusers = tensors.has(DIFFUSERS_MARKER) && [...tensors.keys()].some((k) => k.startsWith('transformer_blocks.0.'));
  const canonical = tensors.has('x_embedder.proj.weight') && tensors.has('joint_blocks.0.x_block.attn.qkv.weight');
  const found = [original && 'original', diffusers && 'diffusers', canonical && 'canonical'].filter(Boolean);
  if (found.length === 1) return found[0] as MmditLayout;
  throw new CheckpointError(
    found.length === 0 ? `${ORIGINAL_MARKER} | ${DIFFUSERS_MARKER}` : found.join(' + '),
    found.length === 0
      ? 'no MM-DiT found: neither the original layout (model.diffusion_model.*) nor the diffusers layout (pos_embed.proj.weight with transformer_blocks.*)'
      : 'the checkpoint holds more than one MM-DiT layout; pass one denoiser at a time',
  );
}

function originalRecipes(tensors: ReadonlyMap<string, TensorInfo>, prefix: string): Map<string, Recipe> {
  const recipes = new Map<string, Recipe>();
  for (const key of tensors.keys()) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    const m = /^(joint_blocks\.\d+\.(?:context_block|x_block)\.attn2?)\.ln_([qk])\.weight$/.exec(name);
    if (!m) {
      recipes.set(name, { parts: [key], op: 'copy' });
      continue;
    }
    const fused = `${m[1]}.ln_qk.weight`;
    const q = `${prefix}${m[1]}.ln_q.weight`;
    const k = `${prefix}${m[1]}.ln_k.weight`;
    if (!tensors.has(q) || !tensors.has(k)) {
      throw new CheckpointError(tensors.has(q) ? k : q, 'is missing: QK-norm needs both ln_q and ln_k');
    }
    recipes.set(fused, { parts: [q, k], op: 'concat' });
  }
  return recipes;
}

/** diffusers name (without the block prefix) → canonical suffix, per stream. */
const DIFFUSERS_BLOCK: readonly [RegExp, (i: number, m: RegExpExecArray, last: boolean) => string | [string, number]][] = [
  [/^attn\.to_([qkv])\.(weight|bias)$/, (i, m) => [`joint_blocks.${i}.x_block.attn.qkv.${m[2]}`, 'qkv'.indexOf(m[1] as string)]],
  [/^attn\.add_([qkv])_proj\.(weight|bias)$/, (i, m) => [`joint_blocks.${i}.context_block.attn.qkv.${m[2]}`, 'qkv'.indexOf(m[1] as string)]],
  [/^attn2\.to_([qkv])\.(weight|bias)$/, (i, m) => [`joint_blocks.${i}.x_block.attn2.qkv.${m[2]}`, 'qkv'.indexOf(m[1] as string)]],
  [/^attn\.to_out\.0\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.x_block.attn.proj.${m[1]}`],
  [/^attn\.to_add_out\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.context_block.attn.proj.${m[1]}`],
  [/^attn2\.to_out\.0\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.x_block.attn2.proj.${m[1]}`],
  [/^attn\.norm_([qk])\.weight$/, (i, m) => [`joint_blocks.${i}.x_block.attn.ln_qk.weight`, 'qk'.indexOf(m[1] as string)]],
  [/^attn\.norm_added_([qk])\.weight$/, (i, m) => [`joint_blocks.${i}.context_block.attn.ln_qk.weight`, 'qk'.indexOf(m[1] as string)]],
  [/^attn2\.norm_([qk])\.weight$/, (i, m) => [`joint_blocks.${i}.x_block.attn2.ln_qk.weight`, 'qk'.indexOf(m[1] as string)]],
  [/^norm1\.linear\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.x_block.adaLN_modulation.1.${m[1]}`],
  [/^norm1_context\.linear\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.context_block.adaLN_modulation.1.${m[1]}`],
  [/^ff\.net\.0\.proj\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.x_block.mlp.fc1.${m[1]}`],
  [/^ff\.net\.2\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.x_block.mlp.fc2.${m[1]}`],
  [/^ff_context\.net\.0\.proj\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.context_block.mlp.fc1.${m[1]}`],
  [/^ff_context\.net\.2\.(weight|bias)$/, (i, m) => `joint_blocks.${i}.context_block.mlp.fc2.${m[1]}`],
];

const DIFFUSERS_TOP: Readonly<Record<string, string>> = {
  'pos_embed.pos_embed': 'pos_embed',
  'pos_embed.proj.weight': 'x_embedder.proj.weight',
  'pos_embed.proj.bias': 'x_embedder.proj.bias',
  'time_text_embed.timestep_embedder.linear_1.weight': 't_embedder.mlp.0.weight',
  'time_text_embed.timestep_embedder.linear_1.bias': 't_embedder.mlp.0.bias',
  'time_text_embed.timestep_embedder.linear_2.weight': 't_embedder.mlp.2.weight',
  'time_text_embed.timestep_embedder.linear_2.bias': 't_embedder.mlp.2.bias',
  'time_text_embed.text_embedder.linear_1.weight': 'y_embedder.mlp.0.weight',
  'time_text_embed.text_embedder.linear_1.bias': 'y_embedder.mlp.0.bias',
  'time_text_embed.text_embedder.linear_2.weight': 'y_embedder.mlp.2.weight',
  'time_text_embed.text_embedder.linear_2.bias': 'y_embedder.mlp.2.bias',
  'context_embedder.weight': 'context_embedder.weight',
  'context_embedder.bias': 'context_embedder.bias',
  'proj_out.weight': 'final_layer.linear.weight',
  'proj_out.bias': 'final_layer.linear.bias',
};

function diffusersRecipes(tensors: ReadonlyMap<string, TensorInfo>): Map<string, Recipe> {
  let depth = 0;
  for (const key of tensors.keys()) {
    const m = /^transformer_blocks\.(\d+)\./.exec(key);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  const recipes = new Map<string, Recipe>();
  const stacked = new Map<string, (string | undefined)[]>();
  for (const key of tensors.keys()) {
    const top = DIFFUSERS_TOP[key];
    if (top) {
      recipes.set(top, { parts: [key], op: 'copy' });
      continue;
    }
    if (key === 'norm_out.linear.weight' || key === 'norm_out.linear.bias') {
      recipes.set(`final_layer.adaLN_modulation.1.${key.endsWith('weight') ? 'weight' : 'bias'}`, { parts: [key], op: 'swap' });
      continue;
    }
    const block = /^transformer_blocks\.(\d+)\.(.*)$/.exec(key);
    const rule = block && DIFFUSERS_BLOCK.map(([re, f]) => [re.exec(block[2] as string), f] as const).find(([m]) => m);
    if (!block || !rule) throw new CheckpointError(key, 'is not a tensor of a diffusers SD3 transformer (unexpected key)');
    const i = Number(block[1]);
    const target = rule[1](i, rule[0] as RegExpExecArray, i === depth - 1);
    if (typeof target === 'string') {
      const swap = i === depth - 1 && /^norm1_context\.linear\./.test(block[2] as string);
      recipes.set(target, { parts: [key], op: swap ? 'swap' : 'copy' });
    } else {
      const [name, index] = target;
      const parts = stacked.get(name) ?? [];
      parts[index] = key;
      stacked.set(name, parts);
    }
  }
  for (const [name, parts] of stacked) {
    const count = name.endsWith('ln_qk.weight') ? 2 : 3;
    for (let j = 0; j < count; j++) {
      if (!parts[j]) {
        const have = parts.find(Boolean) as string;
        const missing = count === 2 ? have.replace(/_([qk])\.weight$/, (_, x: string) => `_${x === 'q' ? 'k' : 'q'}.weight`) : `${have} (part ${'qkv'[j]})`;
        throw new CheckpointError(missing, `is missing: ${name} needs all of its ${count === 2 ? 'q/k norms' : 'q/k/v projections'}`);
      }
    }
    recipes.set(name, { parts: parts as string[], op: 'concat' });
  }
  return recipes;
}

function recipeInfo(name: string, recipe: Recipe, tensors: ReadonlyMap<string, TensorInfo>): TensorInfo {
  const infos = recipe.parts.map((p) => tensors.get(p) as TensorInfo);
  const first = infos[0] as TensorInfo;
  if (recipe.op !== 'concat') return { ...first, name };
  for (const info of infos) {
    if (info.shape.length !== first.shape.length || info.shape.slice(1).join() !== first.shape.slice(1).join()) {
      throw new CheckpointError(info.name, `cannot be stacked with ${first.name} into ${name}`, `[*, ${first.shape.slice(1).join(', ')}]`, JSON.stringify(info.shape));
    }
    if (info.dtype === 'Q8' || info.dtype === 'Q4') throw new CheckpointError(info.name, `a quantised tensor cannot be stacked into ${name}`);
  }
  const mixed = infos.some((i) => i.dtype !== first.dtype);
  const dtype: TensorDtype = mixed ? 'F32' : first.dtype;
  const shape = [infos.reduce((n, i) => n + (i.shape[0] as number), 0), ...first.shape.slice(1)];
  const bytes = mixed ? shape.reduce((p, d) => p * d, 4) : infos.reduce((n, i) => n + i.byteLength, 0);
  return { name, shape, dtype, byteLength: bytes };
}

/**
 * Maps any supported checkpoint (original, diffusers, or already canonical, e.g. a converted
 * manifest) to canonical names, derives the configuration and checks every tensor: a missing,
 * unexpected or mis-shaped one is a CheckpointError naming the checkpoint's own key. Nothing is
 * read but the header; bytes are produced on `read`.
 */
export function canonicalizeMmdit(checkpoint: TensorSource): CanonicalMmdit {
  const tensors = checkpoint.tensors;
  const layout = detectLayout(tensors);
  const recipes =
    layout === 'diffusers' ? diffusersRecipes(tensors) : originalRecipes(tensors, layout === 'original' ? ORIGINAL_PREFIX : '');
  const infos = new Map<string, TensorInfo>();
  for (const [name, recipe] of recipes) infos.set(name, recipeInfo(name, recipe, tensors));
  const keyOf = (name: string) => (recipes.get(name)?.parts ?? [name]).join(' + ');
  let config: MmditConfig;
  try {
    config = deriveMmditConfig(infos);
  } catch (error) {
    if (error instanceof CheckpointError && recipes.has(error.key)) {
      throw new CheckpointError(keyOf(error.key), error.reason, error.expected, error.actual);
    }
    throw error;
  }
  const expected = expectedTensors(config);
  for (const [name, info] of infos) {
    const shape = expected.get(name);
    if (!shape) throw new CheckpointError(keyOf(name), `is not a tensor of an MM-DiT with this configuration (unexpected key; canonical name ${name})`);
    if (shape.join() !== info.shape.join()) {
      throw new CheckpointError(keyOf(name), 'has the wrong shape', JSON.stringify(shape), JSON.stringify(info.shape));
    }
  }
  for (const name of expected.keys()) {
    if (!infos.has(name)) {
      const shown = layout === 'original' ? `${ORIGINAL_PREFIX}${name.replace(/ln_qk\.weight$/, 'ln_q.weight')}` : name;
      throw new CheckpointError(shown, `is missing (an MM-DiT with depth ${config.depth} and hidden ${config.hidden} needs it; canonical name ${name})`);
    }
  }
  const source: TensorSource = {
    origin: checkpoint.origin,
    tensors: infos,
    async read(name, signal) {
      const recipe = recipes.get(name);
      const info = infos.get(name);
      if (!recipe || !info) throw new CheckpointError(name, `no such canonical tensor in ${checkpoint.origin}`);
      const parts = await Promise.all(recipe.parts.map((p) => checkpoint.read(p, signal)));
      if (recipe.op === 'copy') return parts[0] as Uint8Array;
      if (recipe.op === 'swap') return swapHalves(parts[0] as Uint8Array, name);
      const dtypes = recipe.parts.map((p) => (tensors.get(p) as TensorInfo).dtype);
      const bytes = info.dtype === 'F32' && dtypes.some((d) => d !== 'F32') ? parts.map((b, j) => encodeF32(toFloat32(b, dtypes[j] as TensorDtype))) : parts;
      return concatBytes(bytes);
    },
  };
  if (checkpoint.readScales) {
    const readScales = checkpoint.readScales.bind(checkpoint);
    return {
      layout,
      config,
      source: {
        ...source,
        readScales: (name, signal) => {
          const recipe = recipes.get(name);
          if (!recipe || recipe.op !== 'copy') throw new CheckpointError(name, 'has no quantisation scales');
          return readScales(recipe.parts[0] as string, signal);
        },
      },
      sourceKeys: (name) => recipes.get(name)?.parts ?? [],
    };
  }
  return { layout, config, source, sourceKeys: (name) => recipes.get(name)?.parts ?? [] };
}

/** `[a; b]` → `[b; a]` by rows (diffusers' (scale, shift) ↔ the original (shift, scale)). */
function swapHalves(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes.byteLength % 2 !== 0) throw new CheckpointError(name, 'cannot swap the halves of an odd byte length');
  const half = bytes.byteLength / 2;
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes.subarray(half), 0);
  out.set(bytes.subarray(0, half), half);
  return out;
}
