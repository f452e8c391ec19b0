import type { RgbaImage } from '../tensor/image.js';
import { encodePngAsync } from './png.js';

/** Image helpers for pages and workers: ImageData, PNG blobs that carry the parameters, canvases. */

/** An `ImageData` over the same pixels (no copy when the data is a plain Uint8ClampedArray). */
export function toImageData(img: RgbaImage): ImageData {
  return new ImageData(img.data as Uint8ClampedArray<ArrayBuffer>, img.width, img.height);
}

/** A PNG `Blob` with `parameters` (A1111 style) in a tEXt chunk. */
export async function toPngBlob(img: RgbaImage, parameters?: string): Promise<Blob> {
  return new Blob([(await encodePngAsync(img, parameters)) as BlobPart], { type: 'image/png' });
}

/** Draws the image into a canvas, resizing the canvas to the image. */
export function drawToCanvas(img: RgbaImage, canvas: HTMLCanvasElement | OffscreenCanvas): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  ctx?.putImageData(toImageData(img), 0, 0);
}
