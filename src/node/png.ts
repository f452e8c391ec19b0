import { deflateSync } from 'node:zlib';
import { encodePng } from '../pipeline/png.js';
import type { RgbaImage } from '../tensor/image.js';

/** PNG bytes with `parameters` in a tEXt chunk, zlib-compressed (what `generate` writes). */
export function encodePngFile(img: RgbaImage, parameters?: string): Uint8Array {
  return encodePng(img, parameters, (d) => deflateSync(d));
}
