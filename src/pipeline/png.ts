import { InvalidArgumentError } from '../errors.js';
import type { RgbaImage } from '../tensor/image.js';

/**
 * PNG encoding (8-bit RGBA, filter "none") with a "parameters" text chunk, the way A1111-style
 * tools record generation settings. The zlib step is injectable: Node passes `zlib.deflateSync`,
 * browsers use CompressionStream (`encodePngAsync`); without either, stored (uncompressed) deflate
 * blocks give a valid PNG with no dependency.
 */

export type ZlibDeflate = (data: Uint8Array) => Uint8Array;

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, crc = 0xffffffff): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return c;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i += 5552) {
    const end = Math.min(bytes.length, i + 5552);
    for (let j = i; j < end; j++) {
      a += bytes[j] as number;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream of stored deflate blocks (no compression): always valid, any size. */
export function storedZlib(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + data.length + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let at = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * 65535, Math.min(data.length, (i + 1) * 65535));
    out[at] = i === blocks - 1 ? 1 : 0;
    out[at + 1] = chunk.length & 0xff;
    out[at + 2] = chunk.length >>> 8;
    out[at + 3] = ~chunk.length & 0xff;
    out[at + 4] = (~chunk.length >>> 8) & 0xff;
    out.set(chunk, at + 5);
    at += 5 + chunk.length;
  }
  new DataView(out.buffer).setUint32(at, adler32(data));
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

function latin1(text: string): Uint8Array | null {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return null;
    out[i] = c;
  }
  return out;
}

/** tEXt when the text is Latin-1 (what A1111 writes), iTXt (UTF-8) otherwise. */
export function textChunk(keyword: string, text: string): Uint8Array {
  const key = latin1(keyword);
  if (!key || key.length < 1 || key.length > 79) throw new InvalidArgumentError('PNG text keyword', '1–79 Latin-1 characters', keyword);
  const body = latin1(text);
  if (body) {
    const data = new Uint8Array(key.length + 1 + body.length);
    data.set(key);
    data.set(body, key.length + 1);
    return chunk('tEXt', data);
  }
  const utf8 = new TextEncoder().encode(text);
  // keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0.
  const data = new Uint8Array(key.length + 5 + utf8.length);
  data.set(key);
  data.set(utf8, key.length + 5);
  return chunk('iTXt', data);
}

function checkImage(img: RgbaImage): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1 || img.data.length !== img.width * img.height * 4) {
    throw new InvalidArgumentError('image', 'RGBA8 data of width·height·4 bytes', `${img.width}×${img.height}, ${img.data.length} bytes`);
  }
}

/** Scanlines with filter byte 0 each: what IDAT compresses. */
function scanlines(img: RgbaImage): Uint8Array {
  const row = img.width * 4;
  const raw = new Uint8Array((row + 1) * img.height);
  for (let y = 0; y < img.height; y++) raw.set(img.data.subarray(y * row, (y + 1) * row), y * (row + 1) + 1);
  return raw;
}

function assemble(img: RgbaImage, idat: Uint8Array, text: Record<string, string>): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, img.width);
  v.setUint32(4, img.height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const parts = [SIGNATURE, chunk('IHDR', ihdr), ...Object.entries(text).map(([k, t]) => textChunk(k, t)), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** PNG bytes of an RGBA8 image, with `parameters` in a tEXt chunk when given. */
export function encodePng(img: RgbaImage, parameters?: string, deflate: ZlibDeflate = storedZlib): Uint8Array {
  checkImage(img);
  return assemble(img, deflate(scanlines(img)), parameters === undefined ? {} : { parameters });
}

/** As `encodePng`, compressed with the platform's CompressionStream when it has one. */
export async function encodePngAsync(img: RgbaImage, parameters?: string): Promise<Uint8Array> {
  checkImage(img);
  const raw = scanlines(img);
  let idat: Uint8Array;
  if (typeof CompressionStream === 'undefined') idat = storedZlib(raw);
  else {
    const stream = new Blob([raw as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
    idat = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  return assemble(img, idat, parameters === undefined ? {} : { parameters });
}

/** The tEXt / iTXt (uncompressed) chunks of a PNG, keyword → text. */
export function readPngText(png: Uint8Array): Record<string, string> {
  for (let i = 0; i < 8; i++) if (png[i] !== SIGNATURE[i]) throw new InvalidArgumentError('PNG', 'bytes starting with the PNG signature', 'other bytes');
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  let at = 8;
  while (at + 12 <= png.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'tEXt' || type === 'iTXt') {
      const zero = data.indexOf(0);
      const keyword = String.fromCharCode(...data.subarray(0, zero));
      if (type === 'tEXt') out[keyword] = Array.from(data.subarray(zero + 1), (c) => String.fromCharCode(c)).join('');
      else if (data[zero + 1] === 0) {
        let p = zero + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        out[keyword] = new TextDecoder().decode(data.subarray(p));
      }
    }
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return out;
}
