import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the server misbehaves for one file; `drops` counts down per request. */
export interface Fault {
  /** Close the connection after this fraction of the body, for the next `drops` requests. */
  dropAfter?: number;
  drops?: number;
  /** Serve these bytes instead of the real ones. */
  replace?: Uint8Array;
  /** Ignore Range headers (answer 200 with the whole file). */
  noRange?: boolean;
  status?: number;
}

/**
 * A static file server over an in-memory folder that supports Range requests and injects faults:
 * dropped connections mid-body, corrupt, truncated or oversized files. It records requests and
 * the peak number of concurrent ones.
 */
export class ShardServer {
  readonly files = new Map<string, Uint8Array>();
  readonly faults = new Map<string, Fault>();
  readonly requests: string[] = [];
  active = 0;
  peakActive = 0;
  private server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    const range = req.headers.range ?? '';
    this.requests.push(`${name} ${range}`.trim());
    const fault = this.faults.get(name) ?? {};
    const file = fault.replace ?? this.files.get(name);
    if (!file || fault.status) {
      res.writeHead(fault.status ?? 404).end();
      return;
    }
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
    res.on('close', () => this.active--);
    const match = /bytes=(\d+)-(\d*)/.exec(range);
    // A Buffer view, not a Uint8Array: http copies plain Uint8Arrays, which would show up as
    // memory of the client in the loader's measurements (both live in one process).
    let body: Buffer = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
    if (match && !fault.noRange) {
      const start = Number(match[1]);
      const end = match[2] ? Number(match[2]) + 1 : file.byteLength;
      body = body.subarray(start, end);
      res.writeHead(206, { 'content-length': body.byteLength, 'content-range': `bytes ${start}-${end - 1}/${file.byteLength}` });
    } else {
      res.writeHead(200, { 'content-length': body.byteLength });
    }
    if (fault.dropAfter !== undefined && (fault.drops ?? 1) > 0) {
      fault.drops = (fault.drops ?? 1) - 1;
      const cut = Math.floor(body.byteLength * fault.dropAfter);
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 5));
      return;
    }
    res.end(body);
  }
}
