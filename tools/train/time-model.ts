/**
 * Times the bundled model's sizes on this machine's adapter (SwiftShader here) before and after
 * training: one denoiser step at the evaluation's batch, with CFG and without (guidance 1), both CLIP
 * encoders and one VAE decode.
 *
 *   npx vite-node tools/train/time-model.ts -- <single-file.safetensors> [images per prompt, default 4]
 *
 * The checkpoint is export.py's SD3 single file (random weights from `export.py --random` are enough:
 * the time does not depend on the values). Prints JSON with milliseconds per call.
 */
import { ClipTextEncoder } from '../../src/runtime/clip.js';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { Vae } from '../../src/runtime/vae.js';
import { contextRows } from '../../src/pipeline/model.js';
import { GpuContext } from '../../src/gpu/device.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';
import { createNodeGpu } from '../../src/node/dawn.js';
import { fileSource } from '../../src/node/file-source.js';
import { openSafetensors } from '../../src/weights/safetensors.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const file = args[0];
if (!file) {
  console.error('usage: time-model.ts <single-file.safetensors> [images per prompt]');
  process.exit(2);
}
const images = Number(args[1] ?? 4);
const CLIP_HEADS = 1;

const node = createNodeGpu();
const ctx = await GpuContext.acquire({ gpu: node.gpu });
const cache = new PipelineCache(ctx);
const source = await openSafetensors(await fileSource(file));

async function timed<T>(runs: number, f: () => Promise<T>): Promise<number> {
  await f();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await f();
  return (performance.now() - t0) / runs;
}

const denoiser = await loadDenoiser(new Runtime(ctx, { pipelines: cache }), source);
const c = denoiser.config;
// The context the pipeline gives a model without T5 (77 CLIP rows, one zero row counted 77 times).
const context = contextRows(null, 77).shape;
// Guidance 1 compiles without CFG: one row per image instead of two.
async function stepMs(cfg: boolean): Promise<number> {
  const rows = cfg ? 2 * images : images;
  const graph = await denoiser.compile({ batch: images, latentHeight: 8, latentWidth: 8, ...context, cfg });
  graph.writeContext(new Float32Array(rows * context.contextLength * c.contextDim).map(() => Math.random() - 0.5));
  graph.writePooled(new Float32Array(rows * c.pooledDim).map(() => Math.random() - 0.5));
  graph.writeLatent(new Float32Array(images * 16 * 64).map(() => Math.random() - 0.5));
  graph.writeTimesteps(500);
  const ms = await timed(5, async () => {
    graph.forward();
    await ctx.device.queue.onSubmittedWorkDone();
  });
  graph.dispose();
  return ms;
}
const denoiserStepMs = await stepMs(true);
const denoiserStepMsNoCfg = await stepMs(false);

const ids = new Int32Array(2 * images * 77).fill(49407);
const clipMs: Record<string, number> = {};
for (const model of ['clip_l', 'clip_g'] as const) {
  const enc = await ClipTextEncoder.load(new Runtime(ctx, { pipelines: cache }), source, { model, heads: CLIP_HEADS });
  clipMs[model] = await timed(3, async () => {
    // encode() submits and returns (its outputs stay on the GPU): wait for the work itself.
    await enc.encode(ids, { batch: 2 * images });
    await ctx.device.queue.onSubmittedWorkDone();
  });
}

const vae = await Vae.load(new Runtime(ctx, { pipelines: cache }), source);
const latent = new Float32Array(images * 16 * 64).map(() => Math.random() - 0.5);
const vaeMs = await timed(2, async () => {
  await vae.decode(latent, { batch: images, latentHeight: 8, latentWidth: 8 });
});

const adapter = ctx.adapterInfo ?? null;
console.log(JSON.stringify({ adapter, config: c, images, denoiserStepMs, denoiserStepMsNoCfg, clipMs, vaeDecodeMs: vaeMs, vaeDecodeMsPerImage: vaeMs / images }, null, 1));
process.exit(0);
