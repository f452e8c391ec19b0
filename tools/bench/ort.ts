/**
 * `npm run bench:ort`: our denoiser forward against ONNX Runtime Web on the same reference cases,
 * side by side in one headless Chromium page (WebGPU on SwiftShader here), alternating rounds
 * after warm-up. Ours loads the case's safetensors, ORT the case's ONNX export; both get the same
 * inputs, and each forward is timed from writing the inputs to having the output on the CPU.
 *
 * Default: ORT's native WebGPU EP (`onnxruntime-web/webgpu`), the yardstick, on
 * c1_sd3m/forward_b2_32x32 (2 warm-up + 5 timed rounds) and c4_big_d4/forward_b2_64x64 (1 + 3).
 * `--all-eps` adds the JSEP WebGPU EP and the wasm EP (2 threads, cross-origin isolated) into
 * `others`. `--json FILE` writes `{ results: [...], others: [...] }` (one native-EP row per case;
 * `ratio` is the median over rounds of ortMs / oursMs); `--details FILE` writes every round, the
 * setup split and the CPU taken by other processes. `--cases c1,c4` picks cases; `--skip-build`
 * serves the `dist/` already built.
 *
 * ORT's WebGPU outputs are about 1.5e-4 off the reference on SwiftShader (its sin/cos): reported,
 * never a failure. Ours must stay within the case's tolerance, or the run exits 1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { launchChromium, serveStatic } from '../lib/chromium.js';
import { cpuLoad } from '../lib/cpu-load.js';
import { median } from './stats.js';

interface BenchCase {
  readonly key: string;
  readonly name: string;
  readonly onnx: string;
  readonly warmup: number;
  readonly rounds: number;
  readonly tolerance: number;
}

const CASES: readonly BenchCase[] = [
  { key: 'c1', name: 'c1_sd3m/forward_b2_32x32', onnx: 'c1_sd3m/model_b2_32x32_L13.onnx', warmup: 2, rounds: 5, tolerance: 1e-4 },
  { key: 'c4', name: 'c4_big_d4/forward_b2_64x64', onnx: 'c4_big_d4/model_b2_64x64_L13.onnx', warmup: 1, rounds: 3, tolerance: 1e-4 },
];

const FLAVOUR_LABEL = { webgpu: 'WebGPU native EP', jsep: 'WebGPU JSEP', wasm: 'wasm (2 threads)' } as const;
type Flavour = keyof typeof FLAVOUR_LABEL;

const { values: opt } = parseArgs({
  options: {
    'all-eps': { type: 'boolean', default: false },
    json: { type: 'string' },
    details: { type: 'string' },
    cases: { type: 'string', default: 'c1,c4' },
    'skip-build': { type: 'boolean', default: false },
  },
  strict: true,
});
const cases = opt.cases.split(',').map((key) => {
  const c = CASES.find((k) => k.key === key);
  if (!c) {
    console.error(`bench:ort: unknown case "${key}" (have: ${CASES.map((k) => k.key).join(', ')})`);
    process.exit(2);
  }
  return c;
});
const root = process.cwd();
const shared = process.env.MMDIT_SHARED ?? resolve(root, '../shared');
const dist = resolve(root, 'dist');
const ortDist = resolve(root, 'node_modules/onnxruntime-web/dist');

if (!opt['skip-build']) {
  console.log('building the library (vite build) …');
  const built = spawnSync('npx', ['vite', 'build', '--logLevel', 'warn'], { stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
if (!existsSync(join(dist, 'index.js'))) throw new Error('dist/index.js is missing: run without --skip-build');

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench:ort</title><link rel="icon" href="data:,"><script type="module">
try { await import('/bench/bench.js'); } catch (error) { window.benchError = String(error && error.stack || error); }
</script>`;
// Cross-origin isolation lets ORT's wasm use threads (SharedArrayBuffer).
const served = await serveStatic(dist, { '/bench.html': PAGE }, { '/shared/': shared, '/ort/': ortDist, '/bench/': resolve(root, 'tools/bench/ort-page') }, {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});
const browser = await launchChromium();

interface Timed { ms: number; maxAbs: number }
interface CaseResult {
  readonly flavour: Flavour;
  readonly config: string;
  readonly oursSetup: { loadMs: number; compileMs: number; setupMs: number };
  readonly ortSetup: { fetchMs: number; createMs: number };
  readonly ours: Timed[];
  readonly ort: Timed[];
  readonly ratios: number[];
  readonly othersCores: number;
  readonly loadAverage: readonly number[];
}

async function openPage(flavour: Flavour): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`[page] ${m.text()}`); });
  await page.goto(`${served.url}/bench.html?ort=${flavour}`);
  await page.waitForFunction(() => (window as unknown as { benchReady?: boolean; benchError?: string }).benchReady || (window as unknown as { benchError?: string }).benchError, null, { timeout: 120_000 });
  const error = await page.evaluate(() => (window as unknown as { benchError?: string }).benchError);
  if (error) throw new Error(`bench page failed to start: ${error}`);
  return page;
}

type BenchApi = Record<'setupCase' | 'setupOurs' | 'runOurs' | 'setupOrt' | 'runOrt' | 'disposeCase', (...args: unknown[]) => Promise<unknown>>;
const call = <T>(page: Page, fn: keyof BenchApi, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (window as unknown as { bench: BenchApi }).bench[f as keyof BenchApi](...(a as unknown[])), [fn, args] as const) as Promise<T>;

async function runCase(page: Page, flavour: Flavour, c: BenchCase): Promise<CaseResult> {
  const info = await call<{ adapter: { vendor: string; architecture: string }; crossOriginIsolated: boolean; ortThreads: number }>(page, 'setupCase', c.name, c.onnx);
  const start = cpuLoad();
  const oursSetup = await call<CaseResult['oursSetup']>(page, 'setupOurs');
  const ortSetup = await call<CaseResult['ortSetup']>(page, 'setupOrt');
  console.log(`  ${c.name} [${FLAVOUR_LABEL[flavour]}; adapter ${info.adapter.vendor}/${info.adapter.architecture}; isolated ${info.crossOriginIsolated}, ORT threads ${info.ortThreads}]: ` +
    `ours setup ${oursSetup.setupMs.toFixed(0)} ms (load with pipelines made meanwhile ${oursSetup.loadMs.toFixed(0)} + graph compile ${oursSetup.compileMs.toFixed(0)}), ORT session create ${ortSetup.createMs.toFixed(0)} ms (+ fetch ${ortSetup.fetchMs.toFixed(0)})`);
  const ours: Timed[] = [];
  const ort: Timed[] = [];
  for (let round = 0; round < c.warmup + c.rounds; round++) {
    // Alternate which engine goes first, so a drifting background load hits both alike.
    const pair: Timed[] = [];
    for (const engine of round % 2 === 0 ? ['ours', 'ort'] : ['ort', 'ours']) pair.push(await call<Timed>(page, engine === 'ours' ? 'runOurs' : 'runOrt'));
    const [o, r] = round % 2 === 0 ? [pair[0]!, pair[1]!] : [pair[1]!, pair[0]!];
    const timed = round >= c.warmup;
    console.log(`    ${timed ? `round ${round - c.warmup + 1}` : `warm-up ${round + 1}`}: ours ${o.ms.toFixed(0)} ms (max-abs ${o.maxAbs.toExponential(2)}), ORT ${r.ms.toFixed(0)} ms (max-abs ${r.maxAbs.toExponential(2)}) (×${(r.ms / o.ms).toFixed(2)})`);
    if (timed) {
      ours.push(o);
      ort.push(r);
    }
  }
  await call(page, 'disposeCase');
  const end = cpuLoad(start);
  return {
    flavour, config: c.name, oursSetup, ortSetup, ours, ort,
    ratios: ours.map((o, i) => ort[i]!.ms / o.ms),
    othersCores: end.othersCores,
    loadAverage: end.loadAverage,
  };
}

const flavours: Flavour[] = opt['all-eps'] ? ['webgpu', 'jsep', 'wasm'] : ['webgpu'];
const all: CaseResult[] = [];
const t0 = performance.now();
try {
  for (const flavour of flavours) {
    console.log(`ORT ${FLAVOUR_LABEL[flavour]}:`);
    const page = await openPage(flavour);
    try {
      for (const c of cases) all.push(await runCase(page, flavour, c));
    } finally {
      await page.close();
    }
  }
} finally {
  await browser.close();
  served.server.close();
}

const stats = (xs: readonly Timed[]) => ({ median: median(xs.map((x) => x.ms)), min: Math.min(...xs.map((x) => x.ms)), max: Math.max(...xs.map((x) => x.ms)), maxAbs: Math.max(...xs.map((x) => x.maxAbs)) });
const f0 = (v: number) => v.toFixed(0);
console.log(`\n| case | engine | setup ms | median ms | min | max | max-abs vs reference | ratio (median of ORT/ours) | others' CPU (cores) | load avg |`);
console.log(`|---|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const r of all) {
  const o = stats(r.ours);
  const t = stats(r.ort);
  console.log(`| ${r.config} | ours | ${f0(r.oursSetup.setupMs)} (load ${f0(r.oursSetup.loadMs)} + compile ${f0(r.oursSetup.compileMs)}) | ${f0(o.median)} | ${f0(o.min)} | ${f0(o.max)} | ${o.maxAbs.toExponential(2)} | | ${r.othersCores.toFixed(2)} | ${r.loadAverage[0]?.toFixed(2)} |`);
  console.log(`| ${r.config} | ORT ${FLAVOUR_LABEL[r.flavour]} | ${f0(r.ortSetup.createMs)} (session create) | ${f0(t.median)} | ${f0(t.min)} | ${f0(t.max)} | ${t.maxAbs.toExponential(2)} | **${median(r.ratios).toFixed(2)}×** | | |`);
}
console.log(`\nwhole run ${((performance.now() - t0) / 60000).toFixed(1)} min`);

const row = (r: CaseResult) => ({
  config: r.config,
  oursMs: stats(r.ours).median,
  ortMs: stats(r.ort).median,
  ratio: median(r.ratios),
  oursMaxAbs: stats(r.ours).maxAbs,
  ortMaxAbs: stats(r.ort).maxAbs,
  oursSetupMs: r.oursSetup.setupMs,
  ortSetupMs: r.ortSetup.createMs,
});
if (opt.json) {
  writeFileSync(opt.json, JSON.stringify({
    results: all.filter((r) => r.flavour === 'webgpu').map(row),
    others: all.filter((r) => r.flavour !== 'webgpu').map((r) => ({ ...row(r), ep: FLAVOUR_LABEL[r.flavour] })),
  }, null, 2) + '\n');
  console.log(`wrote ${opt.json}`);
}
if (opt.details) {
  writeFileSync(opt.details, JSON.stringify({ date: new Date().toISOString(), runs: all }, null, 2) + '\n');
  console.log(`wrote ${opt.details}`);
}
const failed = all.filter((r) => stats(r.ours).maxAbs > (CASES.find((c) => c.name === r.config)?.tolerance ?? 0));
if (failed.length > 0) {
  console.error(`our output is over tolerance on: ${failed.map((r) => r.config).join(', ')}`);
  process.exit(1);
}
