import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, serveStatic } from '../../tools/lib/chromium.js';

const dist = resolve(process.cwd(), 'dist');
const shared = process.env.MMDIT_SHARED ?? resolve(process.cwd(), '../shared');

const LIBRARY_PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { GpuContext, runSelfCheck } from '/index.js';
import { PipelineCache } from '/advanced.js';
try {
  const ctx = await GpuContext.acquire();
  const results = await runSelfCheck(ctx, new PipelineCache(ctx));
  window.__result = { adapter: ctx.adapterInfo, results };
} catch (error) {
  window.__result = { error: String(error && error.stack || error) };
}
</script>`;

describe('headless Chromium (WebGPU on SwiftShader)', () => {
  let browser: Browser;
  let close: () => void;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(resolve(dist, 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
    const served = await serveStatic(dist, { '/selfcheck.html': LIBRARY_PAGE }, { '/shared/': shared });
    url = served.url;
    close = () => served.server.close();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    close?.();
  });

  it('the built library runs its kernels in a page and matches the CPU references', async () => {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[page] ${m.text()}`));
    // A module that fails to link (a missing export) never runs the page's try/catch: report it.
    const pageError = new Promise<never>((_, reject) => page.on('pageerror', (e) => reject(new Error(`page error: ${e.message}`))));
    await page.goto(`${url}/selfcheck.html`);
    await Promise.race([
      page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: 240_000 }),
      pageError,
    ]);
    const result = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as {
      error?: string;
      adapter?: { vendor: string; architecture: string };
      results?: { name: string; pass: boolean; maxAbs: number; ms: number }[];
    };
    expect(result.error).toBeUndefined();
    console.log(`browser adapter: ${result.adapter?.vendor} / ${result.adapter?.architecture}`);
    for (const r of result.results ?? []) console.log(`browser kernel ${r.name}: ${r.pass ? 'pass' : 'FAIL'} (max abs ${r.maxAbs.toExponential(2)}, ${r.ms.toFixed(0)} ms)`);
    expect(result.results?.length).toBeGreaterThanOrEqual(3);
    expect(result.results?.every((r) => r.pass)).toBe(true);
    await page.close();
  });

  it('the built demo page finds the adapter, passes its checks and runs a reference denoiser case', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}/demo/index.html?autorun&vectors=/shared/vectors/&case=c1_sd3m/forward_b2_32x32`);
    await page.waitForFunction(() => ['pass', 'fail', 'error', 'no-webgpu'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 240_000 });
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('pass');
    expect(await page.textContent('#adapter')).toMatch(/swiftshader|google/i);
    const rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    console.log(rows.join('\n'));
    expect(rows.some((r) => r.includes('denoiser c1_sd3m/forward_b2_32x32') && r.includes('pass'))).toBe(true);
    await page.close();
  });
});
