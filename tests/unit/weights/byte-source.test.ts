import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../../src/errors.js';
import { externalDataReader, fileSource } from '../../../src/node/file-source.js';
import { blobSource, bytesSource, httpSource, readAll } from '../../../src/weights/byte-source.js';

const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);

describe('bytesSource', () => {
  it('reads ranges and rejects ranges past the end, naming the source', async () => {
    const src = bytesSource(data, 'mem.bin');
    expect(src.size).toBe(1000);
    expect([...(await src.read(10, 3))]).toEqual([70, 77, 84]);
    await expect(src.read(998, 3)).rejects.toThrow(/mem\.bin: truncated/);
    await expect(src.read(-1, 3)).rejects.toThrow(/byte range/);
  });

  it('rejects with the abort reason when the signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(bytesSource(data).read(0, 1, controller.signal)).rejects.toThrow('stop');
  });
});

describe('blobSource', () => {
  it('reads only the requested slice', async () => {
    const src = blobSource(new Blob([data]), 'blob.bin');
    expect([...(await src.read(999, 1))]).toEqual([(999 * 7) & 0xff]);
    expect((await readAll(src)).byteLength).toBe(1000);
    await expect(src.read(999, 2)).rejects.toThrow(FileFormatError);
  });
});

describe('fileSource', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mmdit-file-source-'));
    await writeFile(path.join(dir, 'f.bin'), data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads ranges of a local file', async () => {
    const src = await fileSource(path.join(dir, 'f.bin'));
    expect(src.name).toBe('f.bin');
    expect(src.size).toBe(1000);
    expect(await src.read(500, 500)).toEqual(data.subarray(500));
    await expect(src.read(900, 200)).rejects.toThrow(/f\.bin: truncated/);
  });
});

describe('httpSource', () => {
  let server: Server;
  let base = '';
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
      if (req.url === '/no-range') {
        res.writeHead(200, { 'content-length': data.byteLength });
        res.end(req.method === 'HEAD' ? undefined : data);
        return;
      }
      if (req.method === 'HEAD') {
        if (req.url === '/no-head') res.writeHead(405).end();
        else res.writeHead(200, { 'content-length': data.byteLength }).end();
        return;
      }
      const match = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
      if (!match) {
        res.writeHead(200, { 'content-length': data.byteLength }).end(data);
        return;
      }
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), data.byteLength - 1);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${data.byteLength}`, 'content-length': end - start + 1 });
      res.end(data.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('takes the size from HEAD and reads with Range requests', async () => {
    const src = await httpSource(`${base}/file.bin`);
    expect(src.size).toBe(1000);
    expect(await src.read(100, 50)).toEqual(data.subarray(100, 150));
    expect(seen).toContain('GET /file.bin bytes=100-149');
  });

  it('falls back to a one-byte range probe when HEAD is refused', async () => {
    const src = await httpSource(`${base}/no-head`);
    expect(src.size).toBe(1000);
    expect(seen).toContain('GET /no-head bytes=0-0');
  });

  it('rejects a server that ignores Range instead of downloading everything', async () => {
    const src = await httpSource(`${base}/no-range`);
    await expect(src.read(0, 10)).rejects.toThrow(/HTTP 200, expected 206/);
  });

  it('uses a given size without probing', async () => {
    const before = seen.length;
    const src = await httpSource(`${base}/sized`, { size: 1000 });
    expect(src.size).toBe(1000);
    expect(seen.length).toBe(before);
  });
});

describe('externalDataReader', () => {
  it('reads ranges of files beside the model', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mmdit-external-'));
    try {
      await writeFile(path.join(dir, 'weights.bin'), data);
      const read = externalDataReader(path.join(dir, 'model.onnx'));
      expect(await read('weights.bin', 10, 4)).toEqual(data.subarray(10, 14));
      await expect(read('weights.bin', 999, 4)).rejects.toThrow(/weights\.bin: truncated/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
