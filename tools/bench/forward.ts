/**
 * `npm run bench`: the denoiser on the adapter at hand (Node, Dawn), for one fixed configuration
 * (default the public c4_big_d4 weights: depth 4, hidden 256, batch 2, context 13) at several
 * latent sizes:
 * - ms per denoising step against image tokens, with the exponent of a least-squares power fit;
 * - each kernel's share of a step from timestamp queries, with its achieved GFLOP/s and GB/s;
 * - the engine's peak GPU memory per size, and the planned memory of SD3-Medium and SD3.5-Large;
 * - time to first step, split into weight upload, pipeline compile and the first step;
 * - the 1024² decode of the public reduced VAE, split into row bands under a 16 MiB binding cap
 *   against the unsplit decode (`--skip-vae` leaves it out).
 * Prints tables; `--json <file>` writes everything for comparison between commits.
 *
 * Options: --weights <safetensors> (default ../shared/vectors/c4_big_d4/weights.safetensors),
 * --sizes 16,32,48,64 (latent sides), --repeat N (timed steps per size after one warm-up, default 2),
 * --profile-size S (latent side of the kernel breakdown, default the largest), --skip-vae, --json FILE.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GpuContext } from '../../src/gpu/device.js';
import type { DenoiserGraph } from '../../src/runtime/denoiser-graph.js';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { recordDenoiserPlan } from '../../src/models/mmdit/memory-plan.js';
import { createNodeGpu } from '../../src/node/dawn.js';
import { openWeights } from '../../src/node/verify-mmdit.js';
import { Profiler } from '../../src/runtime/profiler.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';
import { readTensor } from '../../src/tensor/read.js';
import { dispatchCost, dispatchGroup } from './dispatch-cost.js';
import { fitPower, median } from './stats.js';
import { cpuLoad, type CpuLoad } from '../lib/cpu-load.js';
import { memoryTable, printMemoryTable } from './memory-table.js';
import { benchVaeDecode } from './vae-decode.js';
import { lcgUniform } from '../lib/random.js';

const { values: opt } = parseArgs({
  options: {
    weights: { type: 'string' },
    sizes: { type: 'string', default: '16,32,48,64' },
    repeat: { type: 'string', default: '2' },
    'profile-size': { type: 'string' },
    'skip-vae': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
  strict: true,
});
const shared = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');
const weightsPath = opt.weights ?? join(shared, 'vectors/c4_big_d4/weights.safetensors');
const sizes = opt.sizes.split(',').map(Number);
const repeat = Number(opt.repeat);
if (sizes.some((s) => !Number.isInteger(s) || s < 2 || s % 2 !== 0) || !Number.isInteger(repeat) || repeat < 1) {
  console.error('usage: npm run bench -- [--weights file] [--sizes 16,32,48,64 (even latent sides)] [--repeat N ≥ 1] [--profile-size S] [--skip-vae] [--json file]');
  process.exit(2);
}
const profileSize = Number(opt['profile-size'] ?? Math.max(...sizes));
const BATCH = 2;
const CONTEXT = 13;

const node = createNodeGpu();
const ctx = await GpuContext.acquire({ gpu: node.gpu });
const cache = new PipelineCache(ctx);
const a = ctx.adapterInfo;
const load0 = cpuLoad();
console.log(`adapter: ${a.vendor} / ${a.architecture} (${a.description})${a.isFallbackAdapter ? ' [fallback]' : ''}; timestamp-query ${ctx.caps.timestampQuery}`);
console.log(`load average ${load0.loadAverage.map((l) => l.toFixed(2)).join(' ')}; weights ${weightsPath}`);

// Time to first step: upload, compile, then the first forward with its readback.
const queueIdle = () => ctx.device.queue.onSubmittedWorkDone();
let t = performance.now();
const denoiser = await loadDenoiser(new Runtime(ctx, { pipelines: cache }), await openWeights(weightsPath));
await queueIdle();
const uploadMs = performance.now() - t;
const config = denoiser.config;

async function compile(size: number): Promise<{ graph: DenoiserGraph; ms: number }> {
  const t0 = performance.now();
  const graph = await denoiser.compile({ batch: BATCH, latentHeight: size, latentWidth: size, contextLength: CONTEXT, cfg: false });
  await queueIdle();
  graph.writeLatent(lcgUniform(BATCH * config.inChannels * size * size, size));
  graph.writeContext(lcgUniform(BATCH * CONTEXT * config.contextDim, 2));
  graph.writePooled(lcgUniform(BATCH * config.pooledDim, 3));
  graph.writeTimesteps(500);
  return { graph, ms: performance.now() - t0 };
}

async function step(graph: DenoiserGraph): Promise<number> {
  const t0 = performance.now();
  graph.forward(0);
  await queueIdle();
  return performance.now() - t0;
}

interface SizeRow {
  readonly latent: number;
  readonly tokens: number;
  readonly gflop: number;
  readonly compileMs: number;
  readonly stepMs: number;
  readonly minMs: number;
  readonly gflops: number;
  readonly peakGpuBytes: number;
}
const rows: SizeRow[] = [];
let firstStep: { uploadMs: number; compileMs: number; firstStepMs: number } | null = null;
let breakdown: { group: string; count: number; ms: number; share: number; gflop: number; gflops: number; gbps: number }[] = [];
let profiledMs = 0;
let breakdownSource: 'gpu' | 'cpu' = 'gpu';

console.log(`\nms per step, batch ${BATCH}, context ${CONTEXT} (median of ${repeat} after one warm-up)`);
console.log(`${'latent'.padEnd(8)} ${'tokens'.padStart(6)} ${'GFLOP'.padStart(8)} ${'compile ms'.padStart(10)} ${'ms/step'.padStart(10)} ${'min'.padStart(9)} ${'GFLOP/s'.padStart(8)} ${'peak MiB'.padStart(9)}`);
for (const size of sizes) {
  ctx.memory.resetPeak();
  const { graph, ms: compileMs } = await compile(size);
  const plan = recordDenoiserPlan(config, { batch: BATCH, latentHeight: size, latentWidth: size, contextLength: CONTEXT, cfg: false }, 'f32', 'f32', ctx.caps);
  const costs = plan.ops.map((op) => dispatchCost(op, 'f32'));
  const gflop = costs.reduce((s, c) => s + c.flops, 0) / 1e9;
  if (!firstStep) {
    const t1 = performance.now();
    graph.forward(0);
    await readTensor(ctx, graph.output);
    firstStep = { uploadMs, compileMs, firstStepMs: performance.now() - t1 };
  } else {
    await step(graph);
  }
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) times.push(await step(graph));
  const stepMs = median(times);
  const tokens = (size / config.patch) ** 2;
  const row: SizeRow = { latent: size, tokens, gflop, compileMs, stepMs, minMs: Math.min(...times), gflops: gflop / (stepMs / 1000), peakGpuBytes: ctx.memory.peakBytes };
  rows.push(row);
  console.log(`${`${size}×${size}`.padEnd(8)} ${String(tokens).padStart(6)} ${gflop.toFixed(3).padStart(8)} ${compileMs.toFixed(0).padStart(10)} ${stepMs.toFixed(1).padStart(10)} ${row.minMs.toFixed(1).padStart(9)} ${row.gflops.toFixed(2).padStart(8)} ${(row.peakGpuBytes / 2 ** 20).toFixed(1).padStart(9)}`);

  if (size === profileSize) {
    const timings = await new Profiler(ctx).profile(graph.compiled);
    if (timings.length !== plan.ops.length || timings.some((tm, i) => tm.label !== plan.ops[i]!.label)) {
      throw new Error('the planned dispatches do not match the compiled graph: the breakdown would be misattributed');
    }
    profiledMs = timings.reduce((s, tm) => s + tm.ms, 0);
    const groups = new Map<string, { count: number; ms: number; flops: number; bytes: number }>();
    plan.ops.forEach((op, i) => {
      const key = dispatchGroup(op);
      const g = groups.get(key) ?? { count: 0, ms: 0, flops: 0, bytes: 0 };
      g.count += 1;
      g.ms += timings[i]!.ms;
      g.flops += costs[i]!.flops;
      g.bytes += costs[i]!.bytes;
      groups.set(key, g);
    });
    breakdown = [...groups].map(([group, g]) => ({
      group, count: g.count, ms: g.ms, share: g.ms / profiledMs, gflop: g.flops / 1e9,
      gflops: g.flops / 1e9 / (g.ms / 1000), gbps: g.bytes / 1e9 / (g.ms / 1000),
    })).sort((x, y) => y.ms - x.ms);
    breakdownSource = timings[0]?.source ?? 'gpu';
  }
  graph.dispose();
}

/** Three significant digits: SwiftShader's GB/s are often below 0.01, which two decimals print as 0.00. */
function formatRate(x: number): string {
  return x === 0 ? '0' : x >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

const fit = fitPower(rows.map((r) => r.tokens), rows.map((r) => r.stepMs));
console.log(`scaling: ms/step ≈ ${fit.coefficient.toPrecision(3)} · tokens^${fit.exponent.toFixed(2)} (least squares in log-log, R² ${fit.r2.toFixed(3)})`);
if (firstStep) {
  console.log(`time to first step at ${sizes[0]}×${sizes[0]}: upload ${firstStep.uploadMs.toFixed(0)} ms + compile ${firstStep.compileMs.toFixed(0)} ms + first step ${firstStep.firstStepMs.toFixed(0)} ms = ${(firstStep.uploadMs + firstStep.compileMs + firstStep.firstStepMs).toFixed(0)} ms`);
}
if (breakdown.length > 0) {
  console.log(`\nkernel breakdown at ${profileSize}×${profileSize} (${breakdownSource === 'gpu' ? 'timestamp queries' : 'CPU submit-to-done'}, one pass per dispatch: ${profiledMs.toFixed(0)} ms in all)`);
  console.log(`${'kernel'.padEnd(34)} ${'count'.padStart(5)} ${'ms'.padStart(9)} ${'share'.padStart(6)} ${'GFLOP'.padStart(8)} ${'GFLOP/s'.padStart(8)} ${'GB/s'.padStart(7)}`);
  for (const g of breakdown) {
    console.log(`${g.group.padEnd(34)} ${String(g.count).padStart(5)} ${g.ms.toFixed(1).padStart(9)} ${(100 * g.share).toFixed(1).padStart(5)}% ${g.gflop.toFixed(3).padStart(8)} ${(g.gflop > 0 ? g.gflops.toFixed(2) : '–').padStart(8)} ${formatRate(g.gbps).padStart(7)}`);
  }
}
denoiser.dispose();

const memory = memoryTable();
console.log('\nplanned GPU memory of the denoiser (CFG batch 2, context 154, f32 compute, 128 MiB bindings)');
printMemoryTable(memory);

let vae: Awaited<ReturnType<typeof benchVaeDecode>> | null = null;
if (!opt['skip-vae']) {
  console.log('\nVAE 1024² decode (public reduced VAE), 16 MiB binding cap in row bands against the unsplit decode …');
  vae = await benchVaeDecode(node.gpu, join(shared, 'vectors/text_vae/vae/weights.safetensors'));
  console.log(`split: ${vae.split.bands} bands, peak ${(vae.split.peakGpuBytes / 2 ** 20).toFixed(1)} MiB, ${(vae.split.ms / 1000).toFixed(1)} s; ` +
    `unsplit: peak ${(vae.whole.peakGpuBytes / 2 ** 20).toFixed(1)} MiB, ${(vae.whole.ms / 1000).toFixed(1)} s; ` +
    `max |Δ| float ${vae.maxAbsFloat.toExponential(2)}, uint8 ${vae.maxAbsUint8} (${vae.pass ? 'pass' : 'FAIL'}: float < 1e-4, uint8 ≤ 1)`);
}

const load1: CpuLoad = cpuLoad(load0);
console.log(`\nload average at the end ${load1.loadAverage.map((l) => l.toFixed(2)).join(' ')}; other processes used ${load1.othersCores.toFixed(2)} cores on average during the run`);
if (opt.json) {
  writeFileSync(opt.json, JSON.stringify({
    date: new Date().toISOString(),
    adapter: a,
    weights: weightsPath,
    config: { depth: config.depth, hidden: config.hidden, batch: BATCH, contextLength: CONTEXT },
    cpu: { loadAverageStart: load0.loadAverage, loadAverageEnd: load1.loadAverage, othersCores: load1.othersCores },
    scaling: { rows, exponent: fit.exponent, coefficient: fit.coefficient, r2: fit.r2 },
    firstStep,
    breakdown: { latent: profileSize, source: breakdownSource, totalMs: profiledMs, kernels: breakdown },
    memory,
    vae,
  }, null, 2) + '\n');
  console.log(`wrote ${opt.json}`);
}
ctx.dispose();
node.dispose();
if (vae && !vae.pass) process.exit(1);
