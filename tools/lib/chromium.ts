import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

/** The one place that knows how to start headless Chromium with WebGPU on SwiftShader. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const CHROMIUM_PATH = process.env.MMDIT_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium (or set MMDIT_CHROMIUM)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, headless: true });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm',
};

/**
 * Serves `root` on 127.0.0.1 (a secure context: on about:blank `navigator.gpu` is undefined), plus
 * in-memory pages under their paths. `headers` go on every response (e.g. COOP/COEP for a
 * cross-origin isolated page, which multi-threaded wasm needs).
 */
export async function serveStatic(
  root: string,
  pages: Record<string, string> = {},
  mounts: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    const page = pages[path];
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
      return;
    }
    // Extra folders under URL prefixes (the shared vectors under /shared/).
    const mount = Object.keys(mounts).find((prefix) => path.startsWith(prefix));
    const base = resolve(mount ? (mounts[mount] as string) : root);
    const rest = mount ? path.slice(mount.length) : path;
    const file = normalize(join(base, rest.endsWith('/') || rest === '' ? rest + 'index.html' : rest));
    if (!file.startsWith(base) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    // Byte ranges: the engine streams checkpoints with HTTP Range reads.
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const first = Number(range[1]);
      const last = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      res.writeHead(206, { 'content-type': type, 'content-range': `bytes ${first}-${last}/${size}`, 'content-length': last - first + 1, 'accept-ranges': 'bytes' });
      createReadStream(file, { start: first, end: last }).pipe(res);
      return;
    }
    res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no server address');
  return { url: `http://127.0.0.1:${address.port}`, server };
}
