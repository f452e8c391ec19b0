// The page side of `npm run bench:ort`: our engine (the built library at /index.js) and one
// ONNX Runtime Web flavour (`?ort=webgpu|jsep|wasm`) on the same reference case, driven step by
// step from Node (tools/bench/ort.ts) so that rounds alternate and Node samples the CPU between
// them. Every forward is timed from writing the inputs to having the output on the CPU.
import * as engine from '/index.js';
import { readTensor } from '/advanced.js';

const FLAVOURS = {
  webgpu: { module: '/ort/ort.webgpu.min.mjs', ep: 'webgpu', threads: 1 },
  jsep: { module: '/ort/ort.min.mjs', ep: 'webgpu', threads: 1 },
  wasm: { module: '/ort/ort.wasm.min.mjs', ep: 'wasm', threads: 2 },
};
const flavour = FLAVOURS[new URLSearchParams(location.search).get('ort') ?? 'webgpu'];
const ort = await import(flavour.module);
ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = flavour.threads;
ort.env.logLevel = 'error';

const VECTORS = '/shared/vectors/';
const ctx = await engine.GpuContext.acquire();
const rt = engine.createRuntime(ctx);
const queueIdle = () => ctx.device.queue.onSubmittedWorkDone();

/** @type {{ name: string, inputs: Record<string, {data: Float32Array, shape: number[]}>, expected: Float32Array, weights: string, onnx: string } | null} */
let current = null;
let ours = null;
let session = null;

async function floats(file) {
  const response = await fetch(VECTORS + file);
  if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
  return new Float32Array(await response.arrayBuffer());
}

function maxAbs(got, expected) {
  let m = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(got[i] - expected[i]);
    m = Number.isNaN(d) ? Infinity : Math.max(m, d);
  }
  return got.length === expected.length ? m : Infinity;
}

async function setupCase(name, onnx) {
  const index = await (await fetch(VECTORS + 'index.json')).json();
  const c = index.cases.find((k) => k.name === name);
  if (!c) throw new Error(`no case ${name} in index.json`);
  const inputs = {};
  for (const [key, t] of Object.entries(c.inputs)) inputs[key] = { data: await floats(t.file), shape: t.shape };
  current = { name, inputs, expected: await floats(Object.values(c.outputs)[0].file), weights: c.weights, onnx };
  return { adapter: ctx.adapterInfo, crossOriginIsolated: self.crossOriginIsolated, ortThreads: ort.env.wasm.numThreads };
}

// Setup = download and upload of the weights, with the pipelines created meanwhile (prewarm),
// then the graph's own compile (buffers, bind groups): the wall time until a forward can run.
async function setupOurs() {
  const t0 = performance.now();
  const x = current.inputs.x;
  const shape = { batch: x.shape[0], latentHeight: x.shape[2], latentWidth: x.shape[3], contextLength: current.inputs.context.shape[1], cfg: false };
  const source = await engine.openSafetensors(await engine.httpSource(new URL(VECTORS + current.weights, location.href).href));
  const denoiser = await engine.loadDenoiser(rt, source, { prewarm: [shape] });
  await queueIdle();
  const t1 = performance.now();
  const graph = await denoiser.compile(shape);
  await queueIdle();
  const t2 = performance.now();
  ours = { denoiser, graph };
  return { loadMs: t1 - t0, compileMs: t2 - t1, setupMs: t2 - t0, pipelines: rt.pipelines.size };
}

async function runOurs() {
  const { graph } = ours;
  const i = current.inputs;
  const t0 = performance.now();
  graph.writeLatent(i.x.data);
  graph.writeContext(i.context.data);
  graph.writePooled(i.y.data);
  graph.writeTimesteps(Array.from(i.t.data), 0);
  graph.forward(0);
  const out = await readTensor(ctx, graph.output);
  const ms = performance.now() - t0;
  return { ms, maxAbs: maxAbs(out, current.expected) };
}

async function setupOrt() {
  const t0 = performance.now();
  const bytes = new Uint8Array(await (await fetch(VECTORS + current.onnx)).arrayBuffer());
  const t1 = performance.now();
  session = await ort.InferenceSession.create(bytes, { executionProviders: [flavour.ep], graphOptimizationLevel: 'all' });
  const t2 = performance.now();
  return { fetchMs: t1 - t0, createMs: t2 - t1, inputs: session.inputNames, outputs: session.outputNames };
}

async function runOrt() {
  const t0 = performance.now();
  const feeds = {};
  for (const name of session.inputNames) {
    const input = current.inputs[name];
    if (!input) throw new Error(`the ONNX model's input ${name} is not an input of ${current.name}`);
    feeds[name] = new ort.Tensor('float32', input.data, input.shape);
  }
  const results = await session.run(feeds);
  const out = await results[session.outputNames[0]].getData();
  const ms = performance.now() - t0;
  for (const t of Object.values(results)) t.dispose?.();
  return { ms, maxAbs: maxAbs(out, current.expected) };
}

async function disposeCase() {
  ours?.denoiser.dispose();
  ours = null;
  rt.graphs.clear();
  await session?.release();
  session = null;
  current = null;
}

window.bench = { setupCase, setupOurs, runOurs, setupOrt, runOrt, disposeCase };
window.benchReady = true;
