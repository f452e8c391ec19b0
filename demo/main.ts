import { GpuContext, MmditError, PipelineCache, runSelfCheck } from '../src/index.js';

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
      document.body.dataset.state = results.every((r) => r.pass) ? 'pass' : 'fail';
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
