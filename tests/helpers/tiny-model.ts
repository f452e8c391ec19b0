/**
 * A tiny random-weight SD3-family model whose parts compose end to end, converted at test time.
 *
 * No public vector model composes (their context and pooled widths differ), so tests that run
 * prompt → conditioning → sampling → decode (the runtime's hand-off and readback tests, the
 * pipeline's tests, the CLI's `generate`) build this one instead:
 *
 *   CLIP-L  width 64 (1 head, 3 layers, quick GELU, pooled unprojected)        → pooled 64
 *   CLIP-G  width 128 (2 heads, 3 layers, exact GELU, pooled projected to 128) → pooled 128
 *   T5      d_model 64 (2 heads × 32, d_ff 128, 2 layers), optional
 *   MM-DiT  hidden 64, depth 2, patch 2, context 256 (≥ 64 + 128, ≥ 64), pooled 192 = 64 + 128,
 *           16 latent channels, position table 16×16 (latents up to 32×32, images up to 256²)
 *   VAE     channels [32, 32, 32, 32], 16 latent channels, encoder and decoder (8× downscale)
 *
 * Vocabularies are the released ones (49408 CLIP, 32128 T5), so the real tokenizers' ids are valid.
 * `buildTinyModel()` writes each component as a canonical-name safetensors file into a temporary
 * folder and converts them with the project's converter (`convertCheckpoints`, as `npm run convert`
 * does) into `<dir>/model/manifest.json` plus small shards (default 1 MiB, so every component spans
 * several shards), copying the CLIP/T5 tokenizer files from ../shared/tokenizers (MMDIT_SHARED
 * overrides) into the model folder when they exist. Weights are seeded: the same options give the
 * same bytes, hence the same shard hashes. Call `dispose()` to delete the folder.
 *
 * Usage:
 *   const tiny = await buildTinyModel();            // { manifestPath, manifest, dir, configs, … }
 *   … load components from tiny.manifestPath (Node) or serve tiny.modelDir over HTTP (browser) …
 *   await tiny.dispose();
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ClipConfig } from '../../src/models/clip/config.js';
import { expectedClipTensors } from '../../src/models/clip/config.js';
import { expectedTensors, type MmditConfig } from '../../src/models/mmdit/config.js';
import { expectedT5Tensors, type T5Config } from '../../src/models/t5/config.js';
import { expectedVaeTensors, type VaeConfig } from '../../src/models/vae/config.js';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { encodeF32 } from '../../src/weights/decode.js';
import { type ModelManifest, parseManifest, type WeightsVariant } from '../../src/weights/manifest.js';
import { encodeSafetensors, type SafetensorsTensor } from '../../src/weights/safetensors-write.js';
import { seededRandom } from '../reference/random.js';

export const TINY_CLIP_L: ClipConfig = {
  model: 'clip_l', vocabSize: 49408, maxPositions: 77, hidden: 64, heads: 1, headDim: 64, layers: 3,
  mlpHidden: 256, activation: 'quick_gelu', projectionDim: null, projectPooled: false, eps: 1e-5,
};
export const TINY_CLIP_G: ClipConfig = {
  model: 'clip_g', vocabSize: 49408, maxPositions: 77, hidden: 128, heads: 2, headDim: 64, layers: 3,
  mlpHidden: 512, activation: 'gelu_erf', projectionDim: 128, projectPooled: true, eps: 1e-5,
};
export const TINY_T5: T5Config = { vocabSize: 32128, dModel: 64, heads: 2, dKv: 32, dFf: 128, layers: 2, numBuckets: 32, maxDistance: 128, eps: 1e-6 };
export const TINY_MMDIT: MmditConfig = {
  hidden: 64, heads: 1, headDim: 64, depth: 2, patch: 2, inChannels: 16, outChannels: 16, posEmbedMaxSize: 16,
  contextDim: 256, pooledDim: 192, mlpHidden: 256, frequencyDim: 256, qkNorm: false, dualAttentionLayers: [],
};
export const TINY_VAE: VaeConfig = {
  channels: [32, 32, 32, 32], latentChannels: 16, imageChannels: 3, decoderBlocks: 3, encoderBlocks: 2,
  hasDecoder: true, hasEncoder: true, groups: 32, eps: 1e-6, scale: 1.5305, shift: 0.0609,
};

export interface TinyModelOptions {
  /** Include the T5 encoder (default true). */
  readonly t5?: boolean;
  /** Variant the converter writes (default 'f16'). */
  readonly quant?: WeightsVariant;
  /** Shard size in bytes, a multiple of 256 (default 1 MiB). */
  readonly shardBytes?: number;
  /** Weight seed (default 1). */
  readonly seed?: number;
  /** Copy tokenizers from this folder (default ../shared/tokenizers when it exists; null: none). */
  readonly tokenizers?: string | null;
  /** Model id written into the manifest (default 'tiny-test'). */
  readonly model?: string;
}

export interface TinyModel {
  /** The temporary folder holding everything. */
  readonly dir: string;
  /** The converted model's folder (manifest.json, shards, tokenizers/). */
  readonly modelDir: string;
  readonly manifestPath: string;
  readonly manifest: ModelManifest;
  /** The canonical-name safetensors inputs, by component. */
  readonly inputs: Readonly<Record<string, string>>;
  readonly configs: { readonly mmdit: MmditConfig; readonly clipL: ClipConfig; readonly clipG: ClipConfig; readonly t5: T5Config | null; readonly vae: VaeConfig };
  dispose(): Promise<void>;
}

const SHARED = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');

/** Seeded values of a scale that keeps activations finite through every layer. */
function tensorValues(name: string, shape: readonly number[], next: () => number): Float32Array {
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  const rank1 = shape.length === 1;
  const isNormScale = rank1 && /(norm|ln_|layer_norm)[^.]*\.weight$|norm\d?\.weight$/.test(name);
  const fanIn = shape.length >= 2 ? shape.slice(1).reduce((p, d) => p * d, 1) : 1;
  const scale = name.includes('embedding') || name === 'pos_embed' || name.includes('relative_attention_bias') ? 0.5 : rank1 ? 0.05 : 1 / Math.sqrt(fanIn);
  for (let i = 0; i < n; i++) {
    const r = 2 * next() - 1;
    out[i] = isNormScale ? 1 + 0.1 * r : scale * r;
  }
  return out;
}

function safetensorsOf(shapes: ReadonlyMap<string, readonly number[]>, seed: number): Uint8Array {
  const next = seededRandom(seed);
  const list: SafetensorsTensor[] = [...shapes].map(([name, shape]) => ({ name, dtype: 'F32', shape, data: encodeF32(tensorValues(name, shape, next)) }));
  return encodeSafetensors(list);
}

/** Builds and converts the tiny model (see the module comment). */
export async function buildTinyModel(o: TinyModelOptions = {}): Promise<TinyModel> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mmdit-tiny-model-'));
  const withT5 = o.t5 !== false;
  const seed = o.seed ?? 1;
  const shapes: [string, ReadonlyMap<string, readonly number[]>][] = [
    ['mmdit', expectedTensors(TINY_MMDIT)],
    ['clip_l', expectedClipTensors(TINY_CLIP_L)],
    ['clip_g', expectedClipTensors(TINY_CLIP_G)],
    ...(withT5 ? [['t5', expectedT5Tensors(TINY_T5)] as [string, ReadonlyMap<string, readonly number[]>]] : []),
    ['vae', expectedVaeTensors(TINY_VAE)],
  ];
  const inputDir = path.join(dir, 'inputs');
  await mkdir(inputDir, { recursive: true });
  const inputs: Record<string, string> = {};
  for (const [i, [component, tensors]] of shapes.entries()) {
    const file = path.join(inputDir, `${component}.safetensors`);
    await writeFile(file, safetensorsOf(tensors, seed * 100 + i));
    inputs[component] = file;
  }
  const tokenizers = o.tokenizers === undefined ? path.join(SHARED, 'tokenizers') : o.tokenizers;
  const haveTokenizers = tokenizers !== null && (await readFile(path.join(tokenizers, 'clip', 'vocab.json')).then(() => true, () => false));
  const modelDir = path.join(dir, 'model');
  const { manifestPath } = await convertCheckpoints({
    inputs: Object.entries(inputs).map(([c, file]) => `${c}=${file}`),
    out: modelDir,
    quant: o.quant ?? 'f16',
    model: o.model ?? 'tiny-test',
    shardBytes: o.shardBytes ?? 1024 * 1024,
    ...(haveTokenizers ? { tokenizers: tokenizers as string } : {}),
    log: () => undefined,
  });
  const manifest = parseManifest(JSON.parse(await readFile(manifestPath, 'utf8')), manifestPath);
  return {
    dir,
    modelDir,
    manifestPath,
    manifest,
    inputs,
    configs: { mmdit: TINY_MMDIT, clipL: TINY_CLIP_L, clipG: TINY_CLIP_G, t5: withT5 ? TINY_T5 : null, vae: TINY_VAE },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
