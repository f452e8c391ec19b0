import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackTokens } from '../../src/models/conditioning.js';
import { localManifest } from '../../src/node/local-manifest.js';
import { type ClipTextEncoder, loadClipEncoder } from '../../src/runtime/clip.js';
import { conditionInto, encodeConditioning } from '../../src/runtime/conditioning.js';
import { type Denoiser, loadDenoiser } from '../../src/runtime/denoiser.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { sample } from '../../src/runtime/sampler.js';
import { loadT5Encoder, type T5TextEncoder } from '../../src/runtime/t5.js';
import { loadVae, type Vae } from '../../src/runtime/vae.js';
import { loadModelWeights, type ModelWeights } from '../../src/runtime/weights.js';
import { readTensor } from '../../src/tensor/read.js';
import { buildTinyModel, type TinyModel } from '../helpers/tiny-model.js';
import { recordGpuRun, testGpu } from '../setup/gpu.js';

/**
 * The runtime end to end on the tiny composing model, converted at test time and loaded through
 * the one weights path (verified shards from its folder): conditioning → sampling → decode stays on
 * the GPU and reads back once, the image; conditioning graphs are compiled once per shape.
 */

const CLIP_TOKENS = 77;
const pad = (ids: number[], n: number, fill: number) => [...ids, ...new Array(n - ids.length).fill(fill)];
/** A prompt row and the empty negative prompt (ids as the SD3 tokenizer gives them). */
const ROWS = [
  { clipL: pad([49406, 320, 1929, 539, 320, 2368, 49407], CLIP_TOKENS, 49407), clipG: pad([49406, 320, 1929, 539, 320, 2368, 49407], CLIP_TOKENS, 0), t5: [3, 9, 1025, 13, 3, 9, 1712, 1] },
  { clipL: pad([49406], CLIP_TOKENS, 49407), clipG: pad([49406, 49407], CLIP_TOKENS, 0), t5: [1] },
];
const LATENT = 8;

let tiny: TinyModel;
let rt: Runtime;
let weights: ModelWeights;
let denoiser: Denoiser;
let clipL: ClipTextEncoder;
let clipG: ClipTextEncoder;
let t5: T5TextEncoder;
let vae: Vae;

beforeAll(async () => {
  tiny = await buildTinyModel();
  const gpu = await testGpu();
  rt = new Runtime(gpu.ctx, { pipelines: gpu.cache });
  weights = await loadModelWeights(rt, localManifest(tiny.manifestPath, tiny.manifest));
  denoiser = await loadDenoiser(rt, weights.mmdit!);
  clipL = await loadClipEncoder(rt, weights.clip_l!, { model: 'clip_l' });
  clipG = await loadClipEncoder(rt, weights.clip_g!, { model: 'clip_g' });
  t5 = await loadT5Encoder(rt, weights.t5!);
  vae = await loadVae(rt, weights.vae!);
});

afterAll(async () => {
  for (const c of [denoiser, clipL, clipG, t5, vae]) c?.dispose();
  for (const w of Object.values(weights ?? {})) w.release();
  rt?.dispose();
  await tiny?.dispose();
});

describe('runtime on a converted tiny model', () => {
  it('loads all four components from the one weights path with the widths the model records', () => {
    expect(Object.keys(weights).sort()).toEqual(['clip_g', 'clip_l', 'mmdit', 't5', 'vae']);
    expect(denoiser.config.contextDim).toBe(tiny.configs.mmdit.contextDim);
    expect(denoiser.config.pooledDim).toBe(clipL.config.hidden + (clipG.config.projectionDim ?? 0));
    expect(clipG.config.heads).toBe(2);
    expect(t5.config.dModel).toBe(64);
    expect(vae.config.channels).toEqual([32, 32, 32, 32]);
    // Rank-1 tensors are f32 on the GPU (the format rule); matrices keep the stored f16, except
    // on CPU emulation, where the runtime holds halves as f32.
    expect(weights.mmdit!.get('x_embedder.proj.bias')?.format).toBe('f32');
    expect(weights.mmdit!.get('context_embedder.weight')?.format).toBe(rt.widenHalfWeights ? 'f32' : 'f16');
  });

  it('conditioning → sampling → decode reads back exactly once: the image', async () => {
    const tokens = stackTokens(ROWS);
    const t5Tokens = Math.max(...ROWS.map((r) => r.t5.length));
    const graph = await denoiser.compile({ batch: 1, latentHeight: LATENT, latentWidth: LATENT, contextLength: CLIP_TOKENS + t5Tokens, cfg: true });
    const before = rt.ctx.readbacks;
    await conditionInto({ clipL, clipG, t5 }, tokens, graph);
    const latent = await sample(graph, { steps: 2, guidanceScale: 4, seed: 7 });
    const images = await vae.decode(latent, { batch: 1, latentHeight: LATENT, latentWidth: LATENT });
    expect(rt.ctx.readbacks - before).toBe(1);
    recordGpuRun('runtime one readback');
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({ width: 8 * LATENT, height: 8 * LATENT });
    const px = images[0]!.data;
    expect(px.length).toBe(64 * 64 * 4);
    // Not a constant picture: the run computed something from the prompt.
    expect(new Set(px.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(4);
  });

  it('writes exactly the assembled conditioning into the denoiser inputs, and compiles it once per shape', async () => {
    const tokens = stackTokens(ROWS);
    const t5Tokens = Math.max(...ROWS.map((r) => r.t5.length));
    const graph = await denoiser.compile({ batch: 1, latentHeight: LATENT, latentWidth: LATENT, contextLength: CLIP_TOKENS + t5Tokens, cfg: true });
    await conditionInto({ clipL, clipG, t5 }, tokens, graph);
    const compiles = rt.graphs.compileCount;
    await conditionInto({ clipL, clipG, t5 }, tokens, graph);
    expect(rt.graphs.compileCount).toBe(compiles);
    const context = await readTensor(rt.ctx, graph.inputs.context);
    const pooled = await readTensor(rt.ctx, graph.inputs.pooled);
    const reference = await encodeConditioning({ clipL, clipG, t5 }, tokens, { contextDim: denoiser.config.contextDim });
    try {
      expect(reference.context.shape).toEqual([2, CLIP_TOKENS + t5Tokens, denoiser.config.contextDim]);
      expect(context).toEqual(await readTensor(rt.ctx, reference.context));
      expect(pooled).toEqual(await readTensor(rt.ctx, reference.pooled));
    } finally {
      reference.dispose();
    }
  });

  it('writes zero T5 rows when T5 is absent', async () => {
    const rows = ROWS.map(({ clipL: l, clipG: g }) => ({ clipL: l, clipG: g }));
    const graph = await denoiser.compile({ batch: 1, latentHeight: LATENT, latentWidth: LATENT, contextLength: 2 * CLIP_TOKENS, cfg: true });
    await conditionInto({ clipL, clipG, t5: null }, stackTokens(rows), graph);
    const context = await readTensor(rt.ctx, graph.inputs.context);
    const D = denoiser.config.contextDim;
    for (let r = 0; r < 2; r++) {
      const t5Part = context.subarray((r * 2 * CLIP_TOKENS + CLIP_TOKENS) * D, (r + 1) * 2 * CLIP_TOKENS * D);
      expect(t5Part.every((v) => v === 0)).toBe(true);
      const clipPart = context.subarray(r * 2 * CLIP_TOKENS * D, (r * 2 * CLIP_TOKENS + CLIP_TOKENS) * D);
      expect(clipPart.some((v) => v !== 0)).toBe(true);
    }
  });
});
