/**
 * The demo's text-to-image tab. The pipeline runs in a Web Worker (demo/worker.ts), so the page
 * stays responsive; everything here is UI: the model picker, the settings (kept in the URL),
 * progress, previews, results with PNG downloads that carry their parameters, the session's
 * gallery and the cache panel.
 */
import catalogueJson from '../weights-manifest.json';
import { MmditError } from '../src/errors.js';
import { formatParameters } from '../src/pipeline/parameters.js';
import { drawToCanvas, toPngBlob } from '../src/pipeline/image.js';
import type { Progress } from '../src/pipeline/progress.js';
import type { GenerateResult, Pipeline } from '../src/pipeline/types.js';
import type { RgbaImage } from '../src/tensor/image.js';
import { cacheUsage, clearCache, deleteModel, listCachedModels, requestPersistence } from '../src/weights/cache.js';
import { type Catalogue, type ModelManifest, parseCatalogue } from '../src/weights/manifest.js';
import { createWorkerPipeline } from '../src/worker/client.js';
import { suggestFix } from './errors.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const promptBox = $<HTMLTextAreaElement>('prompt');
const negativeBox = $<HTMLTextAreaElement>('negative');
const modelSelect = $<HTMLSelectElement>('model');
const sizeSelect = $<HTMLSelectElement>('size');
const stepsInput = $<HTMLInputElement>('steps');
const guidanceInput = $<HTMLInputElement>('guidance');
const seedInput = $<HTMLInputElement>('seed');
const countSelect = $<HTMLSelectElement>('count');
const previewsBox = $<HTMLInputElement>('previews');
const goButton = $<HTMLButtonElement>('go');
const cancelButton = $<HTMLButtonElement>('cancel');
const statusBox = $<HTMLElement>('status');
const progressBox = $<HTMLElement>('progress-box');
const progressBar = $<HTMLProgressElement>('progress');
const progressText = $<HTMLElement>('progress-text');
const previewArea = $<HTMLElement>('previews-box');
const errorBox = $<HTMLElement>('error');

/** Models under 100 MB download without asking. */
const CONFIRM_BYTES = 100 * 1024 * 1024;
const MIB = 1024 * 1024;

interface ModelChoice {
  readonly id: string;
  readonly manifestUrl: string;
  readonly manifest: ModelManifest | null;
  readonly bytes: number;
  readonly maxSize: number;
}

/** The repository's catalogue; its paths are relative to the repository, the page serves demo/public at its root. */
function pageCatalogue(): Catalogue {
  const c = parseCatalogue(catalogueJson, 'weights-manifest.json');
  const local = (ref: string) => ref.replace(/^demo\/public\//, '');
  const models = Object.fromEntries(Object.entries(c.models).map(([id, e]) => [id, { ...e, manifest: local(e.manifest) }]));
  return { ...c, models };
}

async function describeModel(id: string, manifestUrl: string): Promise<ModelChoice> {
  try {
    const manifest = (await (await fetch(manifestUrl)).json()) as ModelManifest;
    const bytes = Object.values(manifest.components).reduce((n, c) => n + (c?.shards.reduce((a, s) => a + s.bytes, 0) ?? 0), 0);
    const mmdit = manifest.components.mmdit?.config as { patch?: number; posEmbedMaxSize?: number } | undefined;
    const vae = manifest.components.vae?.config as { channels?: unknown[] } | undefined;
    const maxSize = 2 ** ((vae?.channels?.length ?? 4) - 1) * (mmdit?.patch ?? 2) * (mmdit?.posEmbedMaxSize ?? 64);
    return { id, manifestUrl, manifest, bytes, maxSize };
  } catch {
    return { id, manifestUrl, manifest: null, bytes: 0, maxSize: 1024 };
  }
}

const params = new URLSearchParams(location.search);
let models: ModelChoice[] = [];
let worker: Worker | null = null;
let pipeline: { model: string; pipeline: Pipeline } | null = null;
let running: AbortController | null = null;
const gallery: { settings: Settings; url: string; parameters: string }[] = [];

interface Settings {
  prompt: string;
  negative: string;
  model: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  count: number;
}

function readSettings(): Settings {
  const [width, height] = sizeSelect.value.split('x').map(Number) as [number, number];
  return {
    prompt: promptBox.value,
    negative: negativeBox.value,
    model: modelSelect.value,
    width,
    height,
    steps: Number(stepsInput.value),
    guidance: Number(guidanceInput.value),
    seed: Number(seedInput.value),
    count: Number(countSelect.value),
  };
}

function writeUrl(s: Settings): void {
  const q = new URLSearchParams({ prompt: s.prompt, negative: s.negative, model: s.model, size: `${s.width}x${s.height}`, steps: String(s.steps), guidance: String(s.guidance), seed: String(s.seed), count: String(s.count) });
  history.replaceState(null, '', `${location.pathname}?${q}${location.hash}`);
}

function sizeOptions(max: number, preferred: string): void {
  const sides = [64, 128, 256, 384, 512, 768, 1024, 1536, 2048].filter((n) => n <= max);
  const sizes = new Set<string>([...sides.map((n) => `${n}x${n}`), ...(max >= 768 ? ['768x512', '512x768', '1024x768', '768x1024'] : []), preferred]);
  sizeSelect.replaceChildren(...[...sizes].filter((s) => s.split('x').every((n) => Number(n) <= max && Number(n) % 16 === 0)).map((s) => new Option(s.replace('x', ' × '), s)));
  sizeSelect.value = preferred;
}

async function cachedBytesOf(m: ModelChoice): Promise<number> {
  const list = await listCachedModels().catch(() => []);
  return list.filter((c) => c.model === m.manifest?.model && c.variant === m.manifest?.variant).reduce((n, c) => n + c.cachedBytes, 0);
}

async function applyModel(apply: boolean): Promise<void> {
  const m = models.find((x) => x.id === modelSelect.value);
  if (!m) return;
  const cached = await cachedBytesOf(m);
  $('model-size').textContent = m.manifest ? `${(m.bytes / MIB).toFixed(1)} MB download, ${(cached / MIB).toFixed(1)} MB cached` : 'manifest not reachable';
  const d = m.manifest?.defaults ?? {};
  if (apply) {
    sizeOptions(m.maxSize, `${d.width ?? 1024}x${d.height ?? 1024}`);
    stepsInput.value = String(d.steps ?? 28);
    guidanceInput.value = String(d.guidanceScale ?? 7);
  }
}

function showError(error: unknown): void {
  errorBox.hidden = false;
  const e = error as Error;
  const name = error instanceof MmditError || error instanceof Error ? e.name : 'Error';
  errorBox.textContent = `${name}: ${e?.message ?? String(error)}\n\nSuggested fix: ${suggestFix(error)}`;
}

const isAbort = (e: unknown): boolean => (e as { name?: string })?.name === 'AbortError';

/** One progress line: phase, bytes and speed for downloads, ms per step while denoising. */
function progressHandler(): (e: Progress) => void {
  let started = performance.now();
  let phase = '';
  return (e) => {
    if (e.phase !== phase) {
      phase = e.phase;
      started = performance.now();
    }
    switch (e.phase) {
      case 'download': {
        const seconds = Math.max(0.001, (performance.now() - started) / 1000);
        progressBar.value = e.totalBytes > 0 ? e.loadedBytes / e.totalBytes : 0;
        progressText.textContent = `download ${e.component}: ${(e.loadedBytes / MIB).toFixed(1)} / ${(e.totalBytes / MIB).toFixed(1)} MB${e.fromCache ? ' (from cache)' : ` at ${(e.loadedBytes / MIB / seconds).toFixed(1)} MB/s`}`;
        break;
      }
      case 'compile':
        progressBar.value = e.total > 0 ? e.done / e.total : 0;
        progressText.textContent = `compile ${e.what}`;
        break;
      case 'ready':
        progressText.textContent = `ready (${Math.round(e.ms)} ms)`;
        break;
      case 'text':
        progressText.textContent = `text encoder ${e.encoder}`;
        break;
      case 'denoise':
        progressBar.value = e.step / e.steps;
        progressText.textContent = `denoise step ${e.step}/${e.steps} · ${Math.round(e.elapsedMs / e.step)} ms/step`;
        document.body.dataset.step = String(e.step);
        if (e.preview) {
          previewArea.replaceChildren(...e.preview.map((img) => {
            const c = document.createElement('canvas');
            drawToCanvas(img, c);
            return c;
          }));
        }
        break;
      case 'decode':
        progressBar.value = e.bands > 0 ? e.band / e.bands : 1;
        progressText.textContent = `decode band ${Math.min(e.band + 1, e.bands)}/${e.bands}`;
        break;
      case 'warning':
        statusBox.textContent = `warning: ${e.message}`;
        break;
      case 'done':
        progressBar.value = 1;
        progressText.textContent = `done in ${Math.round(e.totalMs)} ms`;
        break;
    }
  };
}

async function ensurePipeline(model: ModelChoice, signal: AbortSignal): Promise<Pipeline> {
  if (pipeline?.model === model.manifestUrl) return pipeline.pipeline;
  const toDownload = model.bytes - (await cachedBytesOf(model));
  if (toDownload >= CONFIRM_BYTES && !confirm(`${model.id} needs a ${(toDownload / MIB).toFixed(0)} MB download (kept in this browser's cache). Download it?`)) {
    throw new DOMException('download declined', 'AbortError');
  }
  pipeline?.pipeline.dispose();
  pipeline = null;
  worker ??= new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  const p = await createWorkerPipeline(worker, { model: model.manifestUrl, onProgress: progressHandler(), signal });
  pipeline = { model: model.manifestUrl, pipeline: p };
  return p;
}

async function addResult(s: Settings, result: GenerateResult): Promise<void> {
  const area = $('images');
  area.replaceChildren();
  $('result').hidden = false;
  $('parameters').textContent = result.parameters;
  (window as unknown as { __mmdit: unknown }).__mmdit = { images: result.images.map((i) => ({ width: i.width, height: i.height, data: Array.from(i.data) })), timings: result.timings, parameters: result.parameters };
  for (const [i, img] of result.images.entries()) {
    const seed = result.seeds[i] as number;
    const parameters = result.parameters.replace(/Seed: \d+/, `Seed: ${seed}`);
    const figure = document.createElement('figure');
    const canvas = document.createElement('canvas');
    drawToCanvas(img, canvas);
    const url = URL.createObjectURL(await toPngBlob(img as RgbaImage, parameters));
    const link = document.createElement('a');
    link.href = url;
    link.download = `mmdit-${seed}.png`;
    link.textContent = `Download PNG (seed ${seed})`;
    figure.append(canvas, document.createElement('br'), link);
    area.append(figure);
    gallery.unshift({ settings: { ...s, seed }, url, parameters });
  }
  renderGallery();
}

function renderGallery(): void {
  $('gallery-box').hidden = gallery.length === 0;
  $('gallery').replaceChildren(...gallery.map((g) => {
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = g.url;
    img.alt = g.settings.prompt;
    const reuse = document.createElement('button');
    reuse.type = 'button';
    reuse.className = 'secondary';
    reuse.textContent = 'Reuse settings';
    reuse.addEventListener('click', () => void loadSettings({ ...g.settings, count: 1 }));
    const caption = document.createElement('figcaption');
    caption.textContent = `${g.settings.prompt || '(empty prompt)'} · seed ${g.settings.seed}`;
    f.append(img, caption, reuse);
    return f;
  }));
}

async function loadSettings(s: Partial<Settings>): Promise<void> {
  if (s.model && models.some((m) => m.id === s.model)) {
    modelSelect.value = s.model;
    await applyModel(true);
  }
  if (s.prompt !== undefined) promptBox.value = s.prompt;
  if (s.negative !== undefined) negativeBox.value = s.negative;
  if (s.width && s.height) {
    const v = `${s.width}x${s.height}`;
    if (![...sizeSelect.options].some((o) => o.value === v)) sizeSelect.append(new Option(`${s.width} × ${s.height}`, v));
    sizeSelect.value = v;
  }
  if (s.steps) stepsInput.value = String(s.steps);
  if (s.guidance !== undefined && !Number.isNaN(s.guidance)) guidanceInput.value = String(s.guidance);
  if (s.seed !== undefined && !Number.isNaN(s.seed)) seedInput.value = String(s.seed);
  if (s.count) countSelect.value = String(s.count);
}

async function generate(): Promise<void> {
  if (running) return;
  const s = readSettings();
  writeUrl(s);
  const model = models.find((m) => m.id === s.model);
  if (!model) return showError(new Error('no model selected'));
  errorBox.hidden = true;
  previewArea.replaceChildren();
  progressBox.hidden = false;
  progressBar.value = 0;
  running = new AbortController();
  goButton.disabled = true;
  cancelButton.disabled = false;
  document.body.dataset.gen = 'running';
  document.body.dataset.step = '0';
  try {
    const p = await ensurePipeline(model, running.signal);
    const result = await p.generate({
      prompt: s.prompt, negativePrompt: s.negative, width: s.width, height: s.height, numInferenceSteps: s.steps, guidanceScale: s.guidance,
      seed: s.seed, numImagesPerPrompt: s.count, previews: previewsBox.checked, onProgress: progressHandler(), signal: running.signal,
    });
    await addResult(s, result);
    statusBox.textContent = `${result.images.length} image(s) in ${Math.round(result.timings.totalMs)} ms (text ${Math.round(result.timings.textMs)} ms, ${result.timings.stepMs.length} steps, decode ${Math.round(result.timings.decodeMs)} ms)`;
    document.body.dataset.gen = 'done';
  } catch (error) {
    if (isAbort(error)) {
      statusBox.textContent = 'Cancelled.';
      document.body.dataset.gen = 'cancelled';
    } else {
      showError(error);
      document.body.dataset.gen = 'error';
      // A lost device needs a new pipeline; the cache keeps the weights.
      if ((error as { code?: string })?.code === 'DEVICE_LOST') {
        pipeline?.pipeline.dispose();
        pipeline = null;
      }
    }
  } finally {
    running = null;
    goButton.disabled = false;
    cancelButton.disabled = true;
    void refreshCache();
    void applyModel(false);
  }
}

async function refreshCache(): Promise<void> {
  const u = await cacheUsage().catch(() => null);
  $('cache-usage').textContent = u
    ? `${(u.shardBytes / MIB).toFixed(1)} MB in ${u.shards} shards` + (u.usage !== undefined && u.quota !== undefined ? ` · origin uses ${(u.usage / MIB).toFixed(0)} of ${(u.quota / MIB).toFixed(0)} MB` : '') + (u.persisted ? ' · persisted' : '')
    : 'no cache in this browser (IndexedDB unavailable)';
  const list = await listCachedModels().catch(() => []);
  $('cache-models').replaceChildren(...list.map((m) => {
    const li = document.createElement('li');
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'secondary';
    del.textContent = 'Delete';
    del.addEventListener('click', () => void deleteModel(m.id).then(refreshCache).then(() => applyModel(false)));
    li.append(`${m.id}: ${(m.cachedBytes / MIB).toFixed(1)} / ${(m.bytes / MIB).toFixed(1)} MB `, del);
    return li;
  }));
}

async function detect(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!adapter) {
    statusBox.textContent = 'This browser has no WebGPU adapter, so pictures cannot be generated here. The settings, the gallery and the cache panel still work; try a browser with WebGPU (Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows).';
    goButton.disabled = true;
    document.body.dataset.gen = 'no-webgpu';
    return;
  }
  const f16 = adapter.features.has('shader-f16');
  const info = adapter.info;
  statusBox.textContent = `WebGPU: ${info.vendor || 'adapter'} ${info.architecture || ''}${(info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ? ' (software)' : ''}. ` +
    (f16 ? 'shader-f16: yes.' : 'shader-f16: no — everything runs in f32 compute (same pictures, more memory and time).');
}

async function main(): Promise<void> {
  if (params.has('autorun') || location.hash === '#selfcheck') showTab('selfcheck');
  const catalogue = pageCatalogue();
  const base = new URL('./', location.href);
  models = await Promise.all(Object.entries(catalogue.models).map(([id, e]) => describeModel(id, new URL(e.manifest, base).href)));
  const custom = params.get('model');
  if (custom && !models.some((m) => m.id === custom) && /[/.]/.test(custom)) models.push(await describeModel(custom, new URL(custom, location.href).href));
  modelSelect.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
  if (models.length === 0) {
    statusBox.textContent = 'The catalogue (weights-manifest.json) lists no model; add ?model=<manifest URL> to the address.';
    goButton.disabled = true;
  }
  modelSelect.value = custom && models.some((m) => m.id === custom) ? custom : (catalogue.default ?? models[0]?.id ?? '');
  await applyModel(true);
  const size = params.get('size')?.split('x').map(Number);
  await loadSettings({
    ...(params.has('prompt') ? { prompt: params.get('prompt') as string } : {}),
    ...(params.has('negative') ? { negative: params.get('negative') as string } : {}),
    ...(size && size.length === 2 ? { width: size[0] as number, height: size[1] as number } : {}),
    ...(params.has('steps') ? { steps: Number(params.get('steps')) } : {}),
    ...(params.has('guidance') ? { guidance: Number(params.get('guidance')) } : {}),
    ...(params.has('seed') ? { seed: Number(params.get('seed')) } : {}),
    ...(params.has('count') ? { count: Number(params.get('count')) } : {}),
  });
  await detect();
  await refreshCache();
  document.body.dataset.gen ??= 'idle';
  if (!document.body.dataset.gen || document.body.dataset.gen === 'undefined') document.body.dataset.gen = 'idle';
}

function showTab(id: 'generate' | 'selfcheck'): void {
  for (const t of ['generate', 'selfcheck'] as const) {
    $(t).hidden = t !== id;
    $(`tab-${t}`).setAttribute('aria-selected', String(t === id));
  }
}

$('tab-generate').addEventListener('click', () => showTab('generate'));
$('tab-selfcheck').addEventListener('click', () => showTab('selfcheck'));
form.addEventListener('submit', (e) => {
  e.preventDefault();
  void generate();
});
form.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    void generate();
  }
});
cancelButton.addEventListener('click', () => running?.abort());
$('dice').addEventListener('click', () => {
  seedInput.value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
});
modelSelect.addEventListener('change', () => void applyModel(true));
$('cache-persist').addEventListener('click', () => void requestPersistence().then((ok) => {
  statusBox.textContent = ok ? 'The browser will keep the cache.' : 'The browser declined to persist the cache (it decides from site engagement).';
  return refreshCache();
}));
$('cache-clear').addEventListener('click', () => void clearCache().then(refreshCache).then(() => applyModel(false)));
// Exposed for the end-to-end test and for the console.
(window as unknown as { __formatParameters: typeof formatParameters }).__formatParameters = formatParameters;

void main();
