import { inflateSync } from 'node:zlib';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { crc32, encodePng, encodePngAsync, readPngText, storedZlib } from '../../../src/pipeline/png.js';
import { decodePng } from '../../helpers/png.js';

function gradient(width: number, height: number) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([i % 251, (i * 7) % 256, (i * 13) % 256, 255 - (i % 3)], i * 4);
  return { width, height, data };
}

describe('PNG encoding', () => {
  it('crc32 matches the PNG specification check value', () => {
    expect((crc32(new TextEncoder().encode('123456789')) ^ 0xffffffff) >>> 0).toBe(0xcbf43926);
  });

  it('stored deflate is a zlib stream that inflates back, across 64 KiB blocks', () => {
    const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31) & 0xff);
    expect(Buffer.from(inflateSync(storedZlib(data))).equals(Buffer.from(data))).toBe(true);
    expect(inflateSync(storedZlib(new Uint8Array(0))).length).toBe(0);
  });

  for (const [name, encode] of [
    ['stored', (img: ReturnType<typeof gradient>, p?: string) => Promise.resolve(encodePng(img, p))],
    ['zlib', (img: ReturnType<typeof gradient>, p?: string) => Promise.resolve(encodePng(img, p, (d) => deflateSync(d)))],
    ['CompressionStream', (img: ReturnType<typeof gradient>, p?: string) => encodePngAsync(img, p)],
  ] as const) {
    it(`round-trips pixels and the parameters text (${name})`, async () => {
      const img = gradient(37, 5);
      const parameters = 'a red circle\nNegative prompt: \nSteps: 4, CFG scale: 4.5, Seed: 7, Size: 64x64, Model: tiny';
      const png = await encode(img, parameters);
      const back = decodePng(png);
      expect([back.width, back.height]).toEqual([37, 5]);
      expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
      expect(back.chunks).toContain('tEXt');
      expect(readPngText(png)).toEqual({ parameters });
    });
  }

  it('keeps non-Latin-1 prompts in an iTXt chunk (UTF-8)', () => {
    const png = encodePng(gradient(2, 2), '猫 🐈\nNegative prompt: ');
    expect(decodePng(png).chunks).toContain('iTXt');
    expect(readPngText(png)['parameters']).toBe('猫 🐈\nNegative prompt: ');
  });

  it('rejects an image whose data does not match its size', () => {
    expect(() => encodePng({ width: 4, height: 4, data: new Uint8ClampedArray(10) })).toThrow(InvalidArgumentError);
    expect(() => readPngText(new Uint8Array(16))).toThrow(/PNG signature/);
  });
});
