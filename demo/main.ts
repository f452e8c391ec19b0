import { GpuContext, httpSource, loadDenoiser, MmditError, openSafetensors, PipelineCache, readTensor, Runtime, runSelfCheck } from '../src/advanced.js';
import { compareTensors } from '../src/tensor/compare.js';

interface VectorTensor { readonly file: string; readonly shape: readonly number[] }
interface VectorCase {
  readonly name: string;
  readonly kind: string;
  readonly weights: string;
  readonly inputs: Readonly<Record<string, VectorTensor>>;
  readonly outputs: Readonly<Record<string, VectorTensor>>;
  readonly tolerance: { readonly maxAbs: number };
}

async function floats(base: URL, t: VectorTensor): Promise<Float32Array> {
  const response = await fetch(new URL(t.file, base));
  if (!response.ok) throw new Error(`${t.file}: HTTP ${response.status}`);
  return new Float32Array(await response.arrayBuffer());
}

/**
 * Runs a denoiser forward case of a reference vector set (`?vectors=<folder of index.json>`,
 * optionally `&case=<name>`) in this page: weights streamed with HTTP range reads, one forward on
 * the GPU, max-abs error against the stored output.
 */
async function runVectorCase(ctx: GpuContext, cache: PipelineCache, folder: string, only: string | null): Promise<{ name: string; maxAbs: number; tolerance: number; pass: boolean; ms: number }> {
  const base = new URL(folder.endsWith('/') ? folder : folder + '/', location.href);
  const index = (await (await fetch(new URL('index.json', base))).json()) as { cases: VectorCase[] };
  const c = index.cases.find((k) => k.kind === 'forward' && (only === null || k.name === only));
  if (!c) throw new Error(`no forward case${only ? ` named ${only}` : ''} in ${base.href}index.json`);
  const start = performance.now();
  const denoiser = await loadDenoiser(new Runtime(ctx, { pipelines: cache }), await openSafetensors(await httpSource(new URL(c.weights, base).href)));
  try {
    const [batch, , latentHeight, latentWidth] = c.inputs.x!.shape as [number, number, number, number];
    const graph = await denoiser.compile({ batch, latentHeight, latentWidth, contextLength: c.inputs.context!.shape[1]!, cfg: false });
    graph.writeLatent(await floats(base, c.inputs.x!));
    graph.writeContext(await floats(base, c.inputs.context!));
    graph.writePooled(await floats(base, c.inputs.y!));
    graph.writeTimesteps(Array.from(await floats(base, c.inputs.t!)), 0);
    graph.forward(0);
    const got = await readTensor(ctx, graph.output);
    const expected = await floats(base, Object.values(c.outputs)[0]!);
    const { maxAbs, pass } = compareTensors(got, expected, { atol: c.tolerance.maxAbs });
    return { name: c.name, maxAbs, tolerance: c.tolerance.maxAbs, pass, ms: performance.now() - start };
  } finally {
    denoiser.dispose();
  }
}

const adapterBox = document.querySelector<HTMLElement>('#adapter')!;
const runButton = document.querySelector<HTMLButtonElement>('#run')!;
const table = document.querySelector<HTMLTableElement>('#results')!;
const body = table.querySelector('tbody')!;

function row(cells: readonly string[], cls?: string): void {
  const tr = document.createElement('tr');
  cells.forEach((text, i) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (i === 1 && cls) td.className = cls;
    tr.append(td);
  });
  body.append(tr);
}

async function main(): Promise<void> {
  let ctx: GpuContext;
  try {
    ctx = await GpuContext.acquire();
  } catch (error) {
    adapterBox.textContent = error instanceof MmditError ? error.message : String(error);
    document.body.dataset.state = 'no-webgpu';
    return;
  }
  const a = ctx.adapterInfo;
  adapterBox.textContent =
    `${a.vendor || 'unknown vendor'} / ${a.architecture || 'unknown architecture'}${a.isFallbackAdapter ? ' (software fallback)' : ''}\n` +
    `features: ${[...ctx.device.features].sort().join(', ')}\n` +
    `max storage binding: ${(ctx.caps.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`;
  const cache = new PipelineCache(ctx);
  runButton.disabled = false;
  const run = async () => {
    runButton.disabled = true;
    body.replaceChildren();
    table.hidden = false;
    try {
      const results = await runSelfCheck(ctx, cache);
      for (const r of results) row([r.name, r.pass ? 'pass' : 'FAIL', r.maxAbs.toExponential(2), r.ms.toFixed(1)], r.pass ? 'pass' : 'fail');
      let pass = results.every((r) => r.pass);
      const params = new URLSearchParams(location.search);
      const vectors = params.get('vectors');
      if (vectors) {
        const r = await runVectorCase(ctx, cache, vectors, params.get('case'));
        const ok = r.pass;
        row([`denoiser ${r.name}`, ok ? 'pass' : 'FAIL', `${r.maxAbs.toExponential(2)} (≤ ${r.tolerance})`, r.ms.toFixed(0)], ok ? 'pass' : 'fail');
        pass &&= ok;
      }
      document.body.dataset.state = pass ? 'pass' : 'fail';
    } catch (error) {
      row(['self-check', 'ERROR', String(error), ''], 'fail');
      document.body.dataset.state = 'error';
    } finally {
      runButton.disabled = false;
    }
  };
  runButton.addEventListener('click', () => void run());
  if (new URLSearchParams(location.search).has('autorun')) await run();
}

void main();
