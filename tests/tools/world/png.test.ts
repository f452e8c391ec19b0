import { FileFormatError } from '../../../src/errors.js';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodePng, encodePngRgb } from '../../../tools/world/png.js';

describe('PNG', () => {
  it('round-trips RGB and RGBA', () => {
    const rgb = Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => (i * 37) & 255);
    expect(decodePng(encodePngRgb(rgb, 5, 3))).toEqual({ width: 5, height: 3, channels: 3, data: rgb });
    const rgba = Uint8Array.from({ length: 4 * 2 * 4 }, (_, i) => (i * 91) & 255);
    expect(decodePng(encodePngRgb(rgba, 4, 2, 4))).toEqual({ width: 4, height: 2, channels: 4, data: rgba });
  });

  it('undoes all five row filters', () => {
    // A 3×5 RGB image, row y filtered with filter y (None, Sub, Up, Average, Paeth).
    const w = 3;
    const h = 5;
    const img = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 53 + 7) & 255);
    const stride = w * 3;
    const raw = new Uint8Array(h * (stride + 1));
    for (let y = 0; y < h; y++) {
      raw[y * (stride + 1)] = y;
      for (let x = 0; x < stride; x++) {
        const cur = img[y * stride + x]!;
        const a = x >= 3 ? img[y * stride + x - 3]! : 0;
        const b = y > 0 ? img[(y - 1) * stride + x]! : 0;
        const c = y > 0 && x >= 3 ? img[(y - 1) * stride + x - 3]! : 0;
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const pred = [0, a, b, (a + b) >> 1, paeth][y]!;
        raw[y * (stride + 1) + 1 + x] = (cur - pred) & 255;
      }
    }
    const png = encodePngRgb(img, w, h);
    // Replace the IDAT of the encoder's file by the filtered one (same IHDR).
    const idatAt = 8 + 25;
    const body = deflateSync(raw);
    const chunk = new Uint8Array(12 + body.length);
    new DataView(chunk.buffer).setUint32(0, body.length);
    chunk.set([73, 68, 65, 84], 4);
    chunk.set(body, 8);
    const file = new Uint8Array([...png.subarray(0, idatAt), ...chunk, 0, 0, 0, 0, 73, 69, 78, 68, 0, 0, 0, 0]);
    expect(decodePng(file).data).toEqual(img);
  });

  it('names the file it cannot read', () => {
    expect(() => decodePng(new Uint8Array([1, 2, 3]), 'x.png')).toThrow(FileFormatError);
    const png = encodePngRgb(new Uint8Array(12), 2, 2);
    png[8 + 8 + 8] = 16; // bit depth 16
    expect(() => decodePng(png, 'deep.png')).toThrow(/deep\.png: only 8-bit/);
  });
});
