/**
 * planMemory for SD3-Medium without its weights: a manifest whose tensors have SD3-Medium's
 * shapes (CLIP-L, CLIP-G, T5-XXL, MM-DiT, VAE at their released sizes) in a weights variant, run
 * through the same planner as any model. `npx vite-node tools/plan/sd3-memory.ts` prints the table
 * the README quotes.
 */
import { type ClipConfig, expectedClipTensors } from '../../src/models/clip/config.js';
import { expectedTensors } from '../../src/models/mmdit/config.js';
import { SD3_MEDIUM } from '../../src/models/mmdit/presets.js';
import { expectedT5Tensors, type T5Config } from '../../src/models/t5/config.js';
import { expectedVaeTensors, type VaeConfig } from '../../src/models/vae/config.js';
import { planMemoryFor } from '../../src/pipeline/memory.js';
import { defaultQuantRule } from '../../src/weights/quant-rule.js';
import type { ComponentName, ModelManifest, WeightsVariant } from '../../src/weights/manifest.js';

const CLIP_L: ClipConfig = { model: 'clip_l', vocabSize: 49408, maxPositions: 77, hidden: 768, heads: 12, headDim: 64, layers: 12, mlpHidden: 3072, activation: 'quick_gelu', projectionDim: 768, projectPooled: false, eps: 1e-5 };
const CLIP_G: ClipConfig = { model: 'clip_g', vocabSize: 49408, maxPositions: 77, hidden: 1280, heads: 20, headDim: 64, layers: 32, mlpHidden: 5120, activation: 'gelu_erf', projectionDim: 1280, projectPooled: true, eps: 1e-5 };
const T5_XXL: T5Config = { vocabSize: 32128, dModel: 4096, heads: 64, dKv: 64, dFf: 10240, layers: 24, numBuckets: 32, maxDistance: 128, eps: 1e-6 };
const VAE: VaeConfig = { channels: [128, 256, 512, 512], latentChannels: 16, imageChannels: 3, decoderBlocks: 3, encoderBlocks: 2, hasDecoder: true, hasEncoder: true, groups: 32, eps: 1e-6, scale: 1.5305, shift: 0.0609 };

function format(component: ComponentName, name: string, shape: readonly number[], variant: WeightsVariant): 'f32' | 'f16' | 'q8' | 'q4' {
  if (variant === 'f32') return 'f32';
  const k = shape.at(-1) ?? 1;
  if (shape.length >= 2 && variant === 'int8' && k % 4 === 0 && defaultQuantRule(name, shape, component)) return 'q8';
  if (shape.length >= 2 && variant === 'int4' && k % 32 === 0 && defaultQuantRule(name, shape, component)) return 'q4';
  return 'f16';
}

function manifestOf(variant: WeightsVariant): ModelManifest {
  const parts: [ComponentName, ReadonlyMap<string, readonly number[]>, object][] = [
    ['clip_l', expectedClipTensors(CLIP_L), CLIP_L],
    ['clip_g', expectedClipTensors(CLIP_G), CLIP_G],
    ['t5', expectedT5Tensors(T5_XXL), T5_XXL],
    ['mmdit', expectedTensors(SD3_MEDIUM), SD3_MEDIUM],
    ['vae', expectedVaeTensors(VAE), VAE],
  ];
  const components: Record<string, unknown> = {};
  for (const [c, tensors, config] of parts) {
    const entries: Record<string, unknown> = {};
    for (const [name, shape] of tensors) entries[name] = { shape, format: format(c, name, shape, variant), offset: 0, bytes: 0 };
    components[c] = { config, shards: [], tensors: entries };
  }
  return { format: 'mmdit-webgpu.weights/1', model: 'sd3-medium', variant, tokenizers: {}, components } as unknown as ModelManifest;
}

const GIB = 2 ** 30;
console.log('| image | weights | T5 | text GiB | denoise GiB | decode GiB (bands) | peak all GiB | peak sequential GiB | largest binding MiB |');
console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
for (const size of [512, 1024]) {
  for (const variant of ['f16', 'int8', 'int4'] as const) {
    for (const t5 of [true, false]) {
      const p = planMemoryFor({ manifest: manifestOf(variant), url: 'sd3-medium/manifest.json' }, { width: size, height: size, guidanceScale: 7, t5 });
      const ph = p.phases;
      const g = (n: number) => (n / GIB).toFixed(2);
      console.log(`| ${size}² | ${variant} | ${t5 ? 'on' : 'off'} | ${g(ph.text.weightBytes + ph.text.activationBytes)} | ${g(ph.denoise.weightBytes + ph.denoise.activationBytes)} | ${g(ph.decode.weightBytes + ph.decode.activationBytes)} (${ph.decode.bands}) | ${g(p.peakBytes.all)} | ${g(p.peakBytes.sequential)} | ${(p.largestBinding.bytes / 2 ** 20).toFixed(1)} |`);
    }
  }
}
