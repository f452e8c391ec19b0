/**
 * The reference renderer of the world (../shared/WORLD.md), exact to the last bit so that the Python
 * training renderer can be checked against it by hash (tests/fixtures/world/scenes.json).
 *
 * The arithmetic, all in float64, is fixed so that any implementation gets identical bytes:
 * - sample (a, b) of pixel (i, j) sits at x = i + (a + 0.5)/4, y = j + (b + 0.5)/4 (exact binary fractions);
 * - dx = (x − cx)/r and dy = (y − cy)/r, then the inside test of the shape as written in WORLD.md
 *   (the cross compares with the float64 value of 1/3);
 * - with k_o samples inside object o (a sample inside two objects belongs to the later one) and k_bg in
 *   none, a channel is v = (Σ_o k_o·C_o + k_bg·B)/16: the integer sum first, then k_bg·B added, with B
 *   the unrounded background channel;
 * - the byte is floor(v + 0.5) (round half up), clamped to 0–255.
 */
import { CANVAS, COLOUR_RGB, SUPERSAMPLE, type Scene, type Shape } from './world.js';

const THIRD = 1 / 3;
const SAMPLES = SUPERSAMPLE * SUPERSAMPLE;
/** Sample offsets inside a pixel: (k + 0.5)/4. */
const OFFSETS = Array.from({ length: SUPERSAMPLE }, (_, k) => (k + 0.5) / SUPERSAMPLE);

/** WORLD.md's inside tests, in units of the half-size. */
export function insideShape(shape: Shape, dx: number, dy: number): boolean {
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= 1;
    case 'square':
      return Math.abs(dx) <= 1 && Math.abs(dy) <= 1;
    case 'triangle':
      return dy >= -1 && dy <= 1 && Math.abs(dx) <= (dy + 1) / 2;
    case 'cross': {
      const ax = Math.abs(dx);
      const ay = Math.abs(dy);
      return (ax <= 1 && ay <= THIRD) || (ay <= 1 && ax <= THIRD);
    }
  }
}

/** Pixel range [lo, hi) of the pixels whose samples can fall inside [c − r, c + r], clipped to [0, size). */
function pixelSpan(c: number, r: number, size: number): [number, number] {
  return [Math.max(0, Math.floor(c - r)), Math.min(size, Math.ceil(c + r) + 1)];
}

/**
 * Coverage of one shape: for each pixel of a width × height canvas, how many of its 16 samples are
 * inside (0–16). Pixels outside the shape's box stay 0.
 */
export function shapeCoverage(shape: Shape, cx: number, cy: number, r: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const [x0, x1] = pixelSpan(cx, r, width);
  const [y0, y1] = pixelSpan(cy, r, height);
  for (let j = y0; j < y1; j++) {
    for (let i = x0; i < x1; i++) out[j * width + i] = samplesInside(shape, cx, cy, r, i, j);
  }
  return out;
}

/** How many of pixel (i, j)'s 16 samples fall inside the shape. */
export function samplesInside(shape: Shape, cx: number, cy: number, r: number, i: number, j: number): number {
  let k = 0;
  for (const oy of OFFSETS) {
    const dy = (j + oy - cy) / r;
    for (const ox of OFFSETS) if (insideShape(shape, (i + ox - cx) / r, dy)) k++;
  }
  return k;
}

/**
 * Renders a scene to width × height RGB bytes, row-major (the world's canvas is 64 × 64). A sample
 * inside two objects belongs to the later one (valid scenes never overlap).
 */
export function renderScene(scene: Scene, width = CANVAS, height = CANVAS): Uint8Array {
  const n = width * height;
  // Integer colour sums Σ k_o·C_o and the covered sample count per pixel.
  const sumR = new Float64Array(n);
  const sumG = new Float64Array(n);
  const sumB = new Float64Array(n);
  const covered = new Uint8Array(n);
  const objects = scene.objects;
  // Boxes that touch let a sample fall inside two objects: resolve those pixels sample by sample.
  const owners: number[][] | null = overlapping(scene) ? Array.from({ length: n }, () => []) : null;
  for (let o = 0; o < objects.length; o++) {
    const obj = objects[o]!;
    const [x0, x1] = pixelSpan(obj.cx, obj.r, width);
    const [y0, y1] = pixelSpan(obj.cy, obj.r, height);
    for (let j = y0; j < y1; j++) {
      for (let i = x0; i < x1; i++) {
        if (owners) {
          owners[j * width + i]!.push(o);
          continue;
        }
        const k = samplesInside(obj.shape, obj.cx, obj.cy, obj.r, i, j);
        if (k === 0) continue;
        const p = j * width + i;
        const [r, g, b] = COLOUR_RGB[obj.colour];
        sumR[p] = sumR[p]! + k * r;
        sumG[p] = sumG[p]! + k * g;
        sumB[p] = sumB[p]! + k * b;
        covered[p] = covered[p]! + k;
      }
    }
  }
  if (owners) {
    for (let p = 0; p < n; p++) {
      const list = owners[p]!;
      if (list.length === 0) continue;
      const i = p % width;
      const j = (p - i) / width;
      for (const oy of OFFSETS) {
        for (const ox of OFFSETS) {
          for (let q = list.length - 1; q >= 0; q--) {
            const obj = objects[list[q]!]!;
            if (insideShape(obj.shape, (i + ox - obj.cx) / obj.r, (j + oy - obj.cy) / obj.r)) {
              const [r, g, b] = COLOUR_RGB[obj.colour];
              sumR[p] = sumR[p]! + r;
              sumG[p] = sumG[p]! + g;
              sumB[p] = sumB[p]! + b;
              covered[p] = covered[p]! + 1;
              break;
            }
          }
        }
      }
    }
  }
  const out = new Uint8Array(n * 3);
  const [bgR, bgG, bgB] = scene.bg;
  for (let p = 0; p < n; p++) {
    const kbg = SAMPLES - covered[p]!;
    out[p * 3] = toByte((sumR[p]! + kbg * bgR) / SAMPLES);
    out[p * 3 + 1] = toByte((sumG[p]! + kbg * bgG) / SAMPLES);
    out[p * 3 + 2] = toByte((sumB[p]! + kbg * bgB) / SAMPLES);
  }
  return out;
}

/** Round half up, clamped to a byte. */
export function toByte(v: number): number {
  const q = Math.floor(v + 0.5);
  return q < 0 ? 0 : q > 255 ? 255 : q;
}

/** Whether any two objects' pixel spans share a pixel (then samples may belong to two objects). */
function overlapping(scene: Scene): boolean {
  const o = scene.objects;
  for (let a = 0; a < o.length; a++) {
    for (let b = a + 1; b < o.length; b++) {
      const A = o[a]!;
      const B = o[b]!;
      if (Math.abs(A.cx - B.cx) < A.r + B.r + 2 && Math.abs(A.cy - B.cy) < A.r + B.r + 2) return true;
    }
  }
  return false;
}

/** RGB bytes → RGBA bytes (alpha 255), for code that wants ImageData's layout. */
export function rgbToRgba(rgb: Uint8Array): Uint8Array {
  const n = rgb.length / 3;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    out[p * 4] = rgb[p * 3]!;
    out[p * 4 + 1] = rgb[p * 3 + 1]!;
    out[p * 4 + 2] = rgb[p * 3 + 2]!;
    out[p * 4 + 3] = 255;
  }
  return out;
}
