import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path, { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoints } from '../../src/node/commands/convert.js';
import { launchChromium, serveStatic } from '../../tools/lib/chromium.js';

/**
 * The one weights path in Chromium: the public reference models, converted into one folder, are
 * served over HTTP; the built library streams every shard (SHA-256-checked) into IndexedDB and the
 * GPU, loads all four components — MM-DiT (c1), CLIP-L, CLIP-G, T5, VAE — and each matches its
 * reference vectors. A second load comes from IndexedDB without a shard request.
 */

const dist = resolve(process.cwd(), 'dist');
const shared = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as lib from '/advanced.js';
const f32 = async (url) => new Float32Array(await (await fetch(url)).arrayBuffer());
const i32 = async (url) => new Int32Array(await (await fetch(url)).arrayBuffer());
function maxAbs(got, want) {
  if (got.length !== want.length) return Infinity;
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Number.isNaN(got[i]) ? Infinity : Math.abs(got[i] - want[i]));
  return m;
}
async function load(rt) {
  const manifestUrl = new URL('/model/manifest.json', location.href).href;
  const manifest = lib.parseManifest(await (await fetch(manifestUrl)).json(), manifestUrl);
  const fromCache = [];
  const weights = await lib.loadModelWeights(rt, { manifest, manifestUrl, onShardWritten: (s) => void fromCache.push(s.fromCache) });
  return { weights, fromCache };
}
window.coldRun = async () => {
  await lib.clearCache();
  const ctx = await lib.GpuContext.acquire();
  const rt = lib.createRuntime(ctx);
  const { weights: w, fromCache } = await load(rt);
  const results = [];
  const V = '/shared/vectors/';
  const den = (await (await fetch(V + 'index.json')).json()).cases.find((k) => k.name === 'c1_sd3m/forward_b2_32x32');
  const denoiser = await lib.loadDenoiser(rt, w.mmdit);
  const [batch, , latentHeight, latentWidth] = den.inputs.x.shape;
  const graph = await denoiser.compile({ batch, latentHeight, latentWidth, contextLength: den.inputs.context.shape[1], cfg: false });
  graph.writeLatent(await f32(V + den.inputs.x.file));
  graph.writeContext(await f32(V + den.inputs.context.file));
  graph.writePooled(await f32(V + den.inputs.y.file));
  graph.writeTimesteps(Array.from(await f32(V + den.inputs.t.file)), 0);
  graph.forward(0);
  results.push({ name: den.name, maxAbs: maxAbs(await lib.readTensor(ctx, graph.output), await f32(V + den.outputs.out.file)), tolerance: den.tolerance.maxAbs });
  const T = V + 'text_vae/';
  const cases = (await (await fetch(T + 'index.json')).json()).cases;
  const find = (name) => cases.find((k) => k.name === name);
  for (const model of ['clip_l', 'clip_g']) {
    const k = find(model + '/prompt_a');
    const encoder = await lib.loadClipEncoder(rt, w[model], { model });
    const e = await encoder.encode(await i32(T + k.inputs.tokens.file), { batch: k.inputs.tokens.shape[0] });
    for (const o of ['seq', 'pooled']) results.push({ name: k.name + ' ' + o, maxAbs: maxAbs(await lib.readTensor(ctx, e[o]), await f32(T + k.outputs[o].file)), tolerance: k.tolerance.maxAbs });
  }
  const t5Case = find('t5/prompt_a');
  const t5 = await lib.loadT5Encoder(rt, w.t5);
  const t5Out = await t5.encode(await i32(T + t5Case.inputs.tokens.file), { batch: t5Case.inputs.tokens.shape[0] });
  results.push({ name: t5Case.name, maxAbs: maxAbs(await lib.readTensor(ctx, t5Out.seq), await f32(T + t5Case.outputs.seq.file)), tolerance: t5Case.tolerance.maxAbs });
  const vaeCase = find('vae/decode_8x8');
  const vae = await lib.loadVae(rt, w.vae);
  const [, , h, wd] = vaeCase.inputs.latent.shape;
  const decoder = await vae.compileDecoder({ batch: 1, latentHeight: h, latentWidth: wd, floatImage: true });
  ctx.write(decoder.latent.buffer, 0, await f32(T + vaeCase.inputs.latent.file));
  decoder.run();
  const nhwc = await decoder.readFloatImage();
  const nchw = await f32(T + vaeCase.outputs.image.file);
  const [, C, H, W] = vaeCase.outputs.image.shape;
  const ours = new Float32Array(nchw.length);
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) ours[c * H * W + p] = nhwc[p * C + c];
  results.push({ name: vaeCase.name, maxAbs: maxAbs(ours, nchw), tolerance: vaeCase.tolerance.maxAbs });
  const cached = (await lib.listCachedModels()).map((m) => ({ id: m.id, complete: m.complete }));
  ctx.dispose();
  return { fromCache, results, cached, adapter: ctx.adapterInfo.description };
};
window.warmLoad = async () => {
  const ctx = await lib.GpuContext.acquire();
  const { weights, fromCache } = await load(lib.createRuntime(ctx));
  const components = Object.keys(weights).sort();
  ctx.dispose();
  return { fromCache, components };
};
window.__ready = true;
</script>`;

let work = '';
let browser: Browser;
let page: Page;
let close: () => void = () => undefined;
const shardRequests: string[] = [];

beforeAll(async () => {
  if (!existsSync(resolve(dist, 'advanced.js'))) throw new Error('dist/advanced.js is missing: run `npm run build` first');
  work = await mkdtemp(path.join(tmpdir(), 'mmdit-browser-one-path-'));
  const vectors = path.join(shared, 'vectors');
  await convertCheckpoints({
    inputs: [
      `mmdit=${path.join(vectors, 'c1_sd3m/weights.safetensors')}`,
      ...['clip_l', 'clip_g', 't5', 'vae'].map((c) => `${c}=${path.join(vectors, 'text_vae', c, 'weights.safetensors')}`),
    ],
    out: path.join(work, 'model'),
    quant: 'f32',
    shardBytes: 1024 * 1024,
    log: () => undefined,
  });
  const served = await serveStatic(dist, { '/one-path.html': PAGE }, { '/shared/': shared, '/model/': path.join(work, 'model') });
  close = () => served.server.close();
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  page.on('request', (r) => {
    if (/\/model\/.*\.bin$/.test(r.url())) shardRequests.push(r.url());
  });
  await page.goto(`${served.url}/one-path.html`);
  await page.waitForFunction(() => (window as { __ready?: boolean }).__ready === true);
});

afterAll(async () => {
  await browser?.close();
  close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('one weights path in Chromium (HTTP, IndexedDB)', () => {
  it('streams a converted model from HTTP into IndexedDB and all four components, each matching its reference', async () => {
    const cold = (await page.evaluate(() => (window as unknown as { coldRun: () => Promise<unknown> }).coldRun())) as {
      fromCache: boolean[];
      results: { name: string; maxAbs: number; tolerance: number }[];
      cached: { id: string; complete: boolean }[];
      adapter: string;
    };
    for (const r of cold.results) console.log(`chromium ${r.name}: max-abs ${r.maxAbs.toExponential(2)} (tolerance ${r.tolerance})`);
    expect(cold.fromCache.length).toBeGreaterThan(4);
    expect(cold.fromCache.every((c) => !c)).toBe(true);
    expect(shardRequests.length).toBe(cold.fromCache.length);
    expect(cold.results.map((r) => r.name)).toEqual([
      'c1_sd3m/forward_b2_32x32', 'clip_l/prompt_a seq', 'clip_l/prompt_a pooled', 'clip_g/prompt_a seq', 'clip_g/prompt_a pooled', 't5/prompt_a', 'vae/decode_8x8',
    ]);
    for (const r of cold.results) expect(r.maxAbs, r.name).toBeLessThanOrEqual(r.tolerance);
    expect(cold.cached).toEqual([{ id: expect.stringMatching(/\/f32$/), complete: true }]);
  });

  it('loads the model again from IndexedDB without a shard request', async () => {
    shardRequests.length = 0;
    const warm = (await page.evaluate(() => (window as unknown as { warmLoad: () => Promise<unknown> }).warmLoad())) as { fromCache: boolean[]; components: string[] };
    expect(shardRequests).toEqual([]);
    expect(warm.fromCache.length).toBeGreaterThan(4);
    expect(warm.fromCache.every((c) => c)).toBe(true);
    expect(warm.components).toEqual(['clip_g', 'clip_l', 'mmdit', 't5', 'vae']);
  });
});
