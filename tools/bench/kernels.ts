/**
 * `npm run bench:kernels`: GFLOP/s of the matmul and attention kernels at MM-DiT shapes, and ms per
 * denoiser forward for the public c1 weights at 32×32 and 64×64 latents (batch 2, as one CFG step),
 * on the adapter at hand. Prints a table and writes reports/bench-kernels.json.
 * Options: --repeat N (timed runs, default 3; one warm-up first), --full (adds SD3-Medium-width
 * shapes: minutes per shape on a CPU adapter such as SwiftShader, seconds on a GPU).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { GpuContext } from '../../src/gpu/device.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { compileGraph } from '../../src/graph/compile.js';
import type { CompiledGraph } from '../../src/graph/compiled-graph.js';
import { attention, seq } from '../../src/kernels/attention.js';
import { linear } from '../../src/kernels/matmul.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';
import { loadDenoiser } from '../../src/runtime/denoiser.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { createNodeGpu } from '../../src/node/dawn.js';
import { openWeights } from '../../src/node/verify-mmdit.js';
import type { GpuTensor, StorageFormat } from '../../src/tensor/tensor.js';
import { encodeF16 } from '../../src/weights/decode.js';
import { lcgUniform } from '../lib/random.js';

const args = process.argv.slice(2);
const repeatAt = args.indexOf('--repeat');
const repeat = repeatAt >= 0 ? Math.max(1, Math.floor(Number(args[repeatAt + 1]) || 1)) : 3;
const full = args.includes('--full');
const shared = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');

const node = createNodeGpu();
const ctx = await GpuContext.acquire({ gpu: node.gpu });
const cache = new PipelineCache(ctx);

function weight(label: string, n: number, k: number, format: StorageFormat): GpuTensor {
  const values = lcgUniform(n * k, n + k);
  const bytes = format === 'f16' ? encodeF16(values) : new Uint8Array(values.buffer);
  const buffer = ctx.createBuffer(label, bytes.byteLength, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST);
  ctx.write(buffer, 0, bytes);
  return { buffer, offset: 0, shape: [n, k], format, label };
}

/** Median ms of `repeat` timed runs after one warm-up; each run is submitted and awaited. */
async function time(run: () => void): Promise<number> {
  const once = async () => {
    const t = performance.now();
    run();
    await ctx.device.queue.onSubmittedWorkDone();
    return performance.now() - t;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) times.push(await once());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

async function graphOf(build: (b: GraphBuilder) => void): Promise<CompiledGraph> {
  const b = new GraphBuilder(ctx.caps, 'f32');
  build(b);
  return compileGraph(ctx, cache, b);
}

interface Row { readonly kernel: string; readonly shape: string; readonly format: string; readonly gflop: number; readonly ms: number; readonly gflops: number }
const rows: Row[] = [];
const print = (r: Row) => console.log(`${r.kernel.padEnd(10)} ${r.shape.padEnd(44)} ${r.format.padEnd(5)} ${r.gflop.toFixed(3).padStart(8)} ${r.ms.toFixed(1).padStart(10)} ${r.gflops.toFixed(2).padStart(8)}`);

const a = ctx.adapterInfo;
console.log(`adapter: ${a.vendor} / ${a.architecture} (${a.description})${a.isFallbackAdapter ? ' [fallback]' : ''}; load average ${loadavg()[0]?.toFixed(2)}`);
console.log(`${'kernel'.padEnd(10)} ${'shape'.padEnd(44)} ${'fmt'.padEnd(5)} ${'GFLOP'.padStart(8)} ${'ms'.padStart(10)} ${'GFLOP/s'.padStart(8)}`);

// Linear layers of MM-DiT: M = batch·tokens, N = out, K = in. c4 (H 256) at 64×64 latents, batch 2,
// and SD3-Medium widths (H 1536; whole 512² rows with --full).
const matmuls: [string, number, number, number, StorageFormat][] = [
  ['c4 qkv', 2048, 768, 256, 'f32'],
  ['c4 mlp.fc1 (gelu)', 2048, 1024, 256, 'f32'],
  ['c4 mlp.fc2', 2048, 256, 1024, 'f32'],
  ['c4 mlp.fc1 f16 weights', 2048, 1024, 256, 'f16'],
  ['SD3-M adaLN (B=2)', 2, 9216, 1536, 'f16'],
];
if (full) {
  matmuls.push(['SD3-M qkv (512², B=2)', 2 * 1178, 4608, 1536, 'f16'], ['SD3-M mlp.fc1 (512², B=2)', 2 * 1178, 6144, 1536, 'f16']);
}
for (const [name, m, n, k, format] of matmuls) {
  const w = weight(name, n, k, format);
  const graph = await graphOf((b) => b.output('y', linear(b, b.input('x', [m, k]), w, { epilogue: name.includes('gelu') ? 'gelu_tanh' : 'none' })));
  ctx.write(graph.input('x').buffer, 0, lcgUniform(m * k, 7));
  const ms = await time(() => graph.run());
  const gflop = (2 * m * n * k) / 1e9;
  const row = { kernel: 'matmul', shape: `${name}: M ${m} N ${n} K ${k}`, format, gflop, ms, gflops: gflop / (ms / 1000) };
  rows.push(row);
  print(row);
  graph.dispose();
  ctx.destroyBuffer(w.buffer);
}

// Joint attention: heads·64 wide, S = context + image tokens, batch 2.
const attentions: [string, number, number, number][] = [
  ['c1 32×32 (S 13+256)', 2, 2, 269],
  ['c4 64×64 (S 13+1024)', 2, 4, 1037],
];
if (full) attentions.push(['SD3-M 512² (S 154+1024, 24 heads)', 2, 24, 1178]);
for (const [name, batch, heads, s] of attentions) {
  const width = heads * 64;
  const graph = await graphOf((b) => {
    const q = b.input('q', [batch, s, width]);
    const k = b.input('k', [batch, s, width]);
    const v = b.input('v', [batch, s, width]);
    b.output('o', attention(b, { q: seq(q), k: seq(k), v: seq(v), batch, heads, headDim: 64, qLen: s, kvLen: s, scale: 0.125 }));
  });
  for (const [i, input] of ['q', 'k', 'v'].entries()) ctx.write(graph.input(input).buffer, 0, lcgUniform(batch * s * width, i + 1));
  const ms = await time(() => graph.run());
  const gflop = (4 * batch * s * s * width) / 1e9;
  const row = { kernel: 'attention', shape: `${name}: B ${batch} heads ${heads} S ${s}`, format: 'f32', gflop, ms, gflops: gflop / (ms / 1000) };
  rows.push(row);
  print(row);
  graph.dispose();
}

// Whole forwards of the public c1 weights (SD3-Medium structure at depth 2, H 128), batch 2, L 13.
const forwards: { latent: string; ms: number; gflop: number }[] = [];
const denoiser = await loadDenoiser(new Runtime(ctx, { pipelines: cache }), await openWeights(join(shared, 'vectors/c1_sd3m/weights.safetensors')));
for (const size of [32, 64]) {
  const graph = await denoiser.compile({ batch: 2, latentHeight: size, latentWidth: size, contextLength: 13, cfg: false });
  graph.writeLatent(lcgUniform(2 * 16 * size * size, 1));
  graph.writeContext(lcgUniform(2 * 13 * 4096, 2));
  graph.writePooled(lcgUniform(2 * 2048, 3));
  graph.writeTimesteps(500);
  const ms = await time(() => graph.forward(0));
  const n = (size / 2) ** 2;
  const sTokens = n + 13;
  const [H, F, depth] = [128, 512, 2];
  // BASELINES.md: per block 2·B·S·H·(4H+2F) + 4·B·S²·H, plus the context projection (adaLN,
  // embedders and the final layer add about 2%).
  const gflop = (depth * 2 * 2 * sTokens * H * (4 * H + 2 * F) + depth * 4 * 2 * sTokens * sTokens * H + 2 * 2 * 13 * H * 4096) / 1e9;
  forwards.push({ latent: `${size}×${size}`, ms, gflop });
  console.log(`forward    c1 latent ${size}×${size}, batch 2, L 13${' '.repeat(12)} ${gflop.toFixed(3).padStart(8)} ${ms.toFixed(1).padStart(10)} ${(gflop / (ms / 1000)).toFixed(2).padStart(8)}`);
  graph.dispose();
}
denoiser.dispose();

const out = resolve(process.cwd(), 'reports/bench-kernels.json');
mkdirSync(resolve(process.cwd(), 'reports'), { recursive: true });
writeFileSync(out, JSON.stringify({
  adapter: a,
  loadAverage: loadavg()[0],
  repeat,
  full,
  date: new Date().toISOString(),
  kernels: rows,
  forward: forwards.map((f) => ({ model: 'c1_sd3m', batch: 2, contextLength: 13, latent: f.latent, ms: f.ms, gflop: f.gflop })),
}, null, 2) + '\n');
console.log(`wrote ${out}`);
ctx.dispose();
node.dispose();
