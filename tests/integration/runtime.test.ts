import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { registerCaseRunner, runVectorSet, type VectorIndex } from '../../src/node/verify.js';
import { MMDIT_CASE_RUNNERS } from '../../src/node/verify-mmdit.js';
import { TEXT_CASE_RUNNERS } from '../../src/node/verify-text.js';
import { VAE_CASE_RUNNERS } from '../../src/node/verify-vae.js';
import { VECTORS_DIR } from '../unit/weights/helpers.js';
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
 * Both in one file, so the two share one worker's compiled pipelines (CI time).
 *
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

/**
 * The public reference models converted (f32, 1 MiB shards) into one model folder, then every
 * component — MM-DiT (c1), CLIP-L, CLIP-G, T5, VAE — loaded from that folder through the one
 * weights path (each shard streamed, SHA-256-checked, written by the one uploader) and run on its
 * reference vectors with verify's runners: each case must pass and must have run on the converted
 * model, not on its own checkpoint.
 */

const VECTOR_CASES = {
  denoiser: ['c1_sd3m/forward_b2_32x32'],
  text: ['clip_l/prompt_a', 'clip_g/prompt_a', 't5/prompt_a', 'vae/decode_8x8'],
} as const;

let work = '';
let manifestPath = '';

/** A vector folder holding only `names`, their data linked in from the shared set. */
async function subset(from: string, names: readonly string[], folders: readonly string[], label: string): Promise<string> {
  const dir = path.join(work, label);
  const index = JSON.parse(await readFile(path.join(from, 'index.json'), 'utf8')) as VectorIndex;
  await mkdir(dir, { recursive: true });
  for (const f of folders) await symlink(path.join(from, f), path.join(dir, f));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ ...index, cases: index.cases.filter((c) => names.includes(c.name)) }));
  return dir;
}

beforeAll(async () => {
  for (const runners of [MMDIT_CASE_RUNNERS, TEXT_CASE_RUNNERS, VAE_CASE_RUNNERS]) for (const [kind, run] of Object.entries(runners)) registerCaseRunner(kind, run);
  work = await mkdtemp(path.join(tmpdir(), 'mmdit-one-path-'));
  const text = path.join(VECTORS_DIR, 'text_vae');
  ({ manifestPath } = await convertCheckpoints({
    inputs: [
      `mmdit=${path.join(VECTORS_DIR, 'c1_sd3m/weights.safetensors')}`,
      `clip_l=${path.join(text, 'clip_l/weights.safetensors')}`,
      `clip_g=${path.join(text, 'clip_g/weights.safetensors')}`,
      `t5=${path.join(text, 't5/weights.safetensors')}`,
      `vae=${path.join(text, 'vae/weights.safetensors')}`,
    ],
    out: path.join(work, 'model'),
    quant: 'f32',
    shardBytes: 1024 * 1024,
    log: () => undefined,
  }));
});

afterAll(() => rm(work, { recursive: true, force: true }));

describe('one weights path: a converted model folder into all four components', () => {
  it('the c1 denoiser matches its reference', async () => {
    const dir = await subset(VECTORS_DIR, VECTOR_CASES.denoiser, ['c1_sd3m'], 'denoiser');
    const report = await runVectorSet({ dir, weights: manifestPath, gpu: await testGpu(), log: () => undefined });
    for (const c of report.cases) console.log(`${c.name}: max-abs ${c.maxAbs?.toExponential(2)} (tolerance ${JSON.stringify(c.tolerance)}) on ${c.weights}`);
    expect(report.cases.map((c) => c.name)).toEqual([...VECTOR_CASES.denoiser]);
    expect(report.cases.every((c) => c.weights === manifestPath)).toBe(true);
    expect(report.pass).toBe(true);
    expect(report.cases[0]!.maxAbs!).toBeLessThanOrEqual(4e-6);
  });

  it('CLIP-L, CLIP-G, T5 and the VAE match their references', async () => {
    const dir = await subset(path.join(VECTORS_DIR, 'text_vae'), VECTOR_CASES.text, ['clip_l', 'clip_g', 't5', 'vae'], 'text');
    const report = await runVectorSet({ dir, weights: manifestPath, gpu: await testGpu(), log: () => undefined });
    for (const c of report.cases) console.log(`${c.name}: max-abs ${c.maxAbs?.toExponential(2)} rel-L2 ${c.relL2?.toExponential(2)} on ${c.weights}${c.error ? ` ${c.error.message}` : ''}`);
    expect(report.cases.map((c) => c.name).sort()).toEqual([...VECTOR_CASES.text].sort());
    expect(report.cases.filter((c) => c.weights !== manifestPath).map((c) => c.name)).toEqual([]);
    expect(report.cases.filter((c) => !c.pass).map((c) => c.name)).toEqual([]);
  });
});
