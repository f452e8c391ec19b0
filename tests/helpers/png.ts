import { inflateSync } from 'node:zlib';

/** Decodes an 8-bit RGBA, non-interlaced PNG (what the engine writes; filters 0–4 handled). */
export function decodePng(png: Uint8Array): { width: number; height: number; data: Uint8Array; chunks: string[] } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  const chunks: string[] = [];
  while (at < png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    chunks.push(type);
    const body = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      if (body[8] !== 8 || body[9] !== 6) throw new Error(`decodePng: only 8-bit RGBA (got depth ${body[8]}, colour type ${body[9]})`);
    }
    if (type === 'IDAT') idat.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const row = width * 4;
  const data = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (row + 1)] as number;
    for (let x = 0; x < row; x++) {
      const v = raw[y * (row + 1) + 1 + x] as number;
      const a = x >= 4 ? (data[y * row + x - 4] as number) : 0;
      const b = y > 0 ? (data[(y - 1) * row + x] as number) : 0;
      const c = x >= 4 && y > 0 ? (data[(y - 1) * row + x - 4] as number) : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][filter] as number;
      data[y * row + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, data, chunks };
}
