/**
 * The world's object detector (../shared/WORLD.md, "a good detector"): no learning, so its errors
 * are the picture's, not its own.
 *
 * 1. background = per-channel median of the border pixels;
 * 2. foreground = pixels nearer some colour prototype than the background;
 * 3. 4-connected components of the foreground, dropping specks;
 * 4. colour = the majority prototype over the component's eroded core; a component whose core holds
 *    two colours in strength is split between them, and one that fits no template well is tried as
 *    touching objects of one colour (split where erosion separates it);
 * 5. shape = the best IoU between the component's pixels (tested against its own colour only: black
 *    edges on grey fall nearer other prototypes) and the four templates rendered the same way as the
 *    world, searched over centres ±0.5 px in steps of 0.5 and radii r + {−0.5, 0, 0.5, 1} around the box
 *    estimate; accepted at IoU ≥ 0.5. Pixels a template covers exactly half are left out of the IoU,
 *    since rounding makes them a coin flip;
 * 6. beyond the recipe, so that noise is not seen as objects: the fit's half-size is at least 4 px (per
 *    64 px of image; the world's objects have r ≥ 5), its inside is filled (mean coverage ≥ 0.7), and
 *    its box ends at most 1 px past the image's edge (the world keeps boxes 1 px inside).
 */
import { DetectorInputError } from './errors.js';
import { COLOURS, COLOUR_RGB, SHAPES, SUPERSAMPLE, type Colour, type Shape } from './world.js';

/** An image as bytes: RGB or RGBA, row-major (ImageData's layout when RGBA). */
export interface ImageBytes {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
}

export interface Detection {
  shape: Shape;
  colour: Colour;
  /** [x0, y0, x1, y1] in pixels (pixel edges), of the fitted template: [cx − r, cy − r, cx + r, cy + r]. */
  box: [number, number, number, number];
  /** The IoU of the best template, 0.5–1. */
  confidence: number;
  cx: number;
  cy: number;
  r: number;
  /** Mean coverage estimated over the pixels the template covers fully (1 for a flat, exact fill). */
  fill: number;
}

export interface DetectorOptions {
  /** Minimum IoU to accept a component as an object (default 0.5). */
  minIou?: number;
  /**
   * Smallest half-size accepted, in pixels (default 4 per 64 px of the shorter side: the world's
   * objects have r ≥ 5, and blobs in noise are mostly smaller).
   */
  minRadius?: number;
  /** Smallest mean coverage inside the fitted template (default 0.7): objects are filled flat, noise is not. */
  minFill?: number;
  /** Components smaller than this many pixels are noise (default: 12 per 64×64, at least 4). */
  minArea?: number;
}

const HALF = (SUPERSAMPLE * SUPERSAMPLE) / 2;
const PROTOTYPES = COLOURS.map((c) => COLOUR_RGB[c]);
/** Centre offsets and radius offsets searched around the box estimate; the estimate first, so that it wins ties. */
const CENTRE_STEPS = [0, -0.5, 0.5];
const RADIUS_STEPS = [0, -0.5, 0.5, 1];
/** A second colour splits a component when it holds this share of the core (and MIN_SPLIT pixels). */
const SPLIT_SHARE = 0.25;
const MIN_SPLIT = 6;

/** Per-pixel RGB as three float planes, from RGB or RGBA bytes. */
function planes(img: ImageBytes): [Float32Array, Float32Array, Float32Array] {
  const { data, width, height } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 3 || height < 3) {
    throw new DetectorInputError(`image size must be integers ≥ 3, got ${width}×${height}`);
  }
  const n = width * height;
  const channels = data.length === n * 4 ? 4 : data.length === n * 3 ? 3 : 0;
  if (channels === 0) {
    throw new DetectorInputError(`image data holds ${data.length} bytes; a ${width}×${height} image needs ${n * 3} (RGB) or ${n * 4} (RGBA)`);
  }
  const r = new Float32Array(n);
  const g = new Float32Array(n);
  const b = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    r[p] = data[p * channels]!;
    g[p] = data[p * channels + 1]!;
    b[p] = data[p * channels + 2]!;
  }
  return [r, g, b];
}

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The per-channel median of the border ring. */
export function estimateBackground(img: ImageBytes): [number, number, number] {
  const [R, G, B] = planes(img);
  return borderMedian(R, G, B, img.width, img.height);
}

function borderMedian(R: Float32Array, G: Float32Array, B: Float32Array, w: number, h: number): [number, number, number] {
  const idx: number[] = [];
  for (let x = 0; x < w; x++) idx.push(x, (h - 1) * w + x);
  for (let y = 1; y < h - 1; y++) idx.push(y * w, y * w + w - 1);
  return [median(idx.map((p) => R[p]!)), median(idx.map((p) => G[p]!)), median(idx.map((p) => B[p]!))];
}

function dist2(r: number, g: number, b: number, c: readonly [number, number, number]): number {
  const dr = r - c[0];
  const dg = g - c[1];
  const db = b - c[2];
  return dr * dr + dg * dg + db * db;
}

/** 4-connected components of `mask` (pixels with mask[p] set); returns the pixel lists. */
function components(mask: Uint8Array, w: number, h: number): number[][] {
  const seen = new Uint8Array(mask.length);
  const out: number[][] = [];
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || seen[start]) continue;
    const pixels: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      pixels.push(p);
      const x = p % w;
      const y = (p - x) / w;
      if (x > 0 && mask[p - 1] && !seen[p - 1]) (seen[p - 1] = 1), stack.push(p - 1);
      if (x < w - 1 && mask[p + 1] && !seen[p + 1]) (seen[p + 1] = 1), stack.push(p + 1);
      if (y > 0 && mask[p - w] && !seen[p - w]) (seen[p - w] = 1), stack.push(p - w);
      if (y < h - 1 && mask[p + w] && !seen[p + w]) (seen[p + w] = 1), stack.push(p + w);
    }
    out.push(pixels);
  }
  return out;
}

interface Candidate {
  pixels: number[];
  colour: number;
}

/**
 * Colours of a component: the majority prototype over its eroded core (pixels whose four neighbours
 * are all in the component), or several candidates when a second colour is strong in the core.
 */
function colourCandidates(pixels: number[], label: Int8Array, w: number, h: number, minArea: number): Candidate[] {
  const inComp = new Set(pixels);
  const counts = new Array<number>(COLOURS.length).fill(0);
  let core = 0;
  for (const p of pixels) {
    const x = p % w;
    const y = (p - x) / w;
    if (x > 0 && x < w - 1 && y > 0 && y < h - 1 && inComp.has(p - 1) && inComp.has(p + 1) && inComp.has(p - w) && inComp.has(p + w)) {
      counts[label[p]!]!++;
      core++;
    }
  }
  if (core === 0) for (const p of pixels) counts[label[p]!]!++;
  const total = core || pixels.length;
  const order = counts.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0]);
  const strong = order.filter(([c], k) => k === 0 || (c >= MIN_SPLIT && c >= SPLIT_SHARE * total)).map(([, i]) => i);
  if (strong.length === 1) return [{ pixels, colour: strong[0]! }];
  // Split: each pixel goes to the strong colour its own label is, or else the first (majority) one.
  const out: Candidate[] = [];
  for (const colour of strong) {
    const mask = new Uint8Array(w * h);
    for (const p of pixels) {
      const l = label[p]!;
      if (l === colour || (colour === strong[0] && !strong.includes(l))) mask[p] = 1;
    }
    for (const part of components(mask, w, h)) if (part.length >= minArea) out.push({ pixels: part, colour });
  }
  return out;
}

interface Fit {
  shape: Shape;
  iou: number;
  cx: number;
  cy: number;
  r: number;
  /** Mean estimated coverage over the pixels the template covers fully: near 1 for a flat fill. */
  fill: number;
}

/** Area of each shape in units of r²: πr², 4r², 2r², and the cross's two 2r × 2r/3 bars less their overlap. */
const AREA_FACTOR: Readonly<Record<Shape, number>> = { circle: Math.PI, square: 4, triangle: 2, cross: 20 / 9 };
/** How far below the centre of its box each shape's centroid lies, in units of r (the triangle's is at r/3). */
const CENTROID_DROP: Readonly<Record<Shape, number>> = { circle: 0, square: 0, triangle: 1 / 3, cross: 0 };

/**
 * The window of one component: `own` marks pixels of the component nearer its colour than the
 * background; `cover` is each pixel's estimated coverage (its position between background and colour).
 */
interface Window {
  x0: number;
  y0: number;
  w: number;
  h: number;
  own: Uint8Array;
  cover: Float32Array;
}

/**
 * Best template for a component. The box estimate of each shape comes from the component's moments
 * (coverage-weighted area and centroid), which place it to a fraction of a pixel; the search then
 * tries centres ±0.5 px in steps of 0.5 around it, then radii r + {−0.5, 0.5, 1} at the best centre.
 */
function fitShape(win: Window): Fit | null {
  let area = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < win.h; y++) {
    for (let x = 0; x < win.w; x++) {
      const a = win.cover[y * win.w + x]!;
      area += a;
      sx += a * (win.x0 + x + 0.5);
      sy += a * (win.y0 + y + 0.5);
    }
  }
  if (area <= 0) return null;
  const mx = sx / area;
  const my = sy / area;
  let best: Fit | null = null;
  const counts = new Uint8Array(win.w * win.h);
  for (const shape of SHAPES) {
    const r0 = Math.sqrt(area / AREA_FACTOR[shape]);
    const cy0 = my - CENTROID_DROP[shape] * r0;
    const tryFit = (cx: number, cy: number, r: number, current: Fit | null): Fit | null => {
      if (r <= 1) return current;
      templateCounts(counts, win, shape, cx, cy, r);
      const iou = maskIou(win.own, counts);
      return current === null || iou > current.iou ? { shape, iou, cx, cy, r, fill: 0 } : current;
    };
    // Coordinate search: the centres at the estimated radius, then the radii at the best centre.
    let fit: Fit | null = null;
    for (const ox of CENTRE_STEPS) for (const oy of CENTRE_STEPS) fit = tryFit(mx + ox, cy0 + oy, r0, fit);
    const c = fit!;
    for (const dr of RADIUS_STEPS) if (dr !== 0) fit = tryFit(c.cx, c.cy, r0 + dr, fit);
    if (fit !== null && (best === null || fit.iou > best.iou)) best = fit;
  }
  if (best !== null) {
    templateCounts(counts, win, best.shape, best.cx, best.cy, best.r);
    let sum = 0;
    let n = 0;
    for (let p = 0; p < counts.length; p++) {
      if (counts[p] === 2 * HALF) (sum += win.cover[p]!), n++;
    }
    best.fill = n === 0 ? 0 : sum / n;
  }
  return best;
}

/**
 * The template's sample counts over the window, rendered as the world renders (16 samples a pixel at
 * i + (k + 0.5)/4), one sample row at a time: in each row a shape is one interval of x (the cross's
 * arms give one interval per row too), so the samples inside are counted, not tested one by one.
 */
function templateCounts(counts: Uint8Array, win: Window, shape: Shape, cx: number, cy: number, r: number): void {
  counts.fill(0);
  const ss = SUPERSAMPLE;
  const mMin = win.x0 * ss;
  const mMax = (win.x0 + win.w) * ss - 1;
  for (let y = 0; y < win.h; y++) {
    const j = win.y0 + y;
    for (let b = 0; b < ss; b++) {
      const dy = (j + (b + 0.5) / ss - cy) / r;
      let half: number;
      switch (shape) {
        case 'circle':
          half = dy * dy <= 1 ? Math.sqrt(1 - dy * dy) : -1;
          break;
        case 'square':
          half = Math.abs(dy) <= 1 ? 1 : -1;
          break;
        case 'triangle':
          half = dy >= -1 && dy <= 1 ? (dy + 1) / 2 : -1;
          break;
        case 'cross':
          half = Math.abs(dy) <= 1 / 3 ? 1 : Math.abs(dy) <= 1 ? 1 / 3 : -1;
          break;
      }
      if (half < 0) continue;
      // Samples m (at x = (m + 0.5)/4) with cx − half·r ≤ x ≤ cx + half·r.
      const lo = Math.max(mMin, Math.ceil((cx - half * r) * ss - 0.5));
      const hi = Math.min(mMax, Math.floor((cx + half * r) * ss - 0.5));
      for (let m = lo; m <= hi; ) {
        const i = Math.floor(m / ss);
        const end = Math.min(hi, i * ss + ss - 1);
        const p = y * win.w + (i - win.x0);
        counts[p] = counts[p]! + (end - m + 1);
        m = end + 1;
      }
    }
  }
}

/** IoU of the component's pixels with the template (more than half covered), leaving out pixels covered exactly half. */
function maskIou(own: Uint8Array, counts: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let p = 0; p < own.length; p++) {
    const k = counts[p]!;
    if (k === HALF) continue;
    const o = own[p]!;
    const t = k > HALF ? 1 : 0;
    inter += o & t;
    union += o | t;
  }
  return union === 0 ? 0 : inter / union;
}

/** What detect() shares with the per-candidate fits: the image, its background and its components. */
interface Scan {
  R: Float32Array;
  G: Float32Array;
  B: Float32Array;
  w: number;
  h: number;
  bg: [number, number, number];
  compOf: Int32Array;
  minArea: number;
}

/**
 * Fits a candidate (pixels of one component, one colour): its pixels nearer the colour than the
 * background (tested against its own colour only), their window, coverage and best template.
 */
function fitCandidate(scan: Scan, pixels: readonly number[], colour: number): { fit: Fit | null; own: number[] } {
  const { R, G, B, w, h, bg, compOf } = scan;
  const proto = PROTOTYPES[colour]!;
  let bx0 = w, by0 = h, bx1 = 0, by1 = 0;
  const ownPixels: number[] = [];
  for (const p of pixels) {
    if (!(dist2(R[p]!, G[p]!, B[p]!, proto) < dist2(R[p]!, G[p]!, B[p]!, bg))) continue;
    ownPixels.push(p);
    const x = p % w;
    const y = (p - x) / w;
    if (x < bx0) bx0 = x;
    if (y < by0) by0 = y;
    if (x + 1 > bx1) bx1 = x + 1;
    if (y + 1 > by1) by1 = y + 1;
  }
  if (ownPixels.length < scan.minArea) return { fit: null, own: ownPixels };
  // The window: the box with room for the searched radii and centres.
  const pad = 3;
  const x0 = Math.max(0, bx0 - pad);
  const y0 = Math.max(0, by0 - pad);
  const ww = Math.min(w, bx1 + pad) - x0;
  const wh = Math.min(h, by1 + pad) - y0;
  const own = new Uint8Array(ww * wh);
  const cover = new Float32Array(ww * wh);
  const mine = new Uint8Array(ww * wh);
  for (const p of pixels) {
    const x = p % w;
    const y = (p - x) / w;
    mine[(y - y0) * ww + (x - x0)] = 1;
  }
  for (const p of ownPixels) {
    const x = p % w;
    const y = (p - x) / w;
    own[(y - y0) * ww + (x - x0)] = 1;
  }
  // Coverage: the pixel's position on the line from the background to the colour, for the
  // candidate's pixels and the background pixels around it (other candidates' pixels count 0).
  const ex = proto[0] - bg[0];
  const ey = proto[1] - bg[1];
  const ez = proto[2] - bg[2];
  const e2 = ex * ex + ey * ey + ez * ez;
  for (let y = 0; y < wh; y++) {
    for (let x = 0; x < ww; x++) {
      const q = y * ww + x;
      const p = (y0 + y) * w + (x0 + x);
      if (!mine[q] && compOf[p] !== -1) continue;
      const a = ((R[p]! - bg[0]) * ex + (G[p]! - bg[1]) * ey + (B[p]! - bg[2]) * ez) / e2;
      cover[q] = a < 0.05 ? 0 : a > 1 ? 1 : a;
    }
  }
  return { fit: fitShape({ x0, y0, w: ww, h: wh, own, cover }), own: ownPixels };
}

/** Below this IoU a candidate is tried as two or more touching objects of one colour. */
const SPLIT_BELOW_IOU = 0.8;
const MAX_EROSIONS = 4;

/**
 * Splits pixels where erosion separates them (two touching objects of one colour): erodes until the
 * core falls apart into pieces of a useful size, then grows the pieces back over the pixels.
 */
function splitByErosion(pixels: readonly number[], w: number, h: number, minArea: number): number[][] | null {
  let mask = new Uint8Array(w * h);
  for (const p of pixels) mask[p] = 1;
  for (let e = 0; e < MAX_EROSIONS; e++) {
    const next = new Uint8Array(w * h);
    for (const p of pixels) {
      const x = p % w;
      const y = (p - x) / w;
      if (mask[p] && x > 0 && x < w - 1 && y > 0 && y < h - 1 && mask[p - 1] && mask[p + 1] && mask[p - w] && mask[p + w]) next[p] = 1;
    }
    mask = next;
    const seeds = components(mask, w, h).filter((c) => c.length >= Math.max(3, minArea / 4));
    if (seeds.length === 0) return null;
    if (seeds.length < 2) continue;
    // Grow the seeds back breadth-first inside the original pixels.
    const owner = new Int32Array(w * h).fill(-1);
    const inside = new Uint8Array(w * h);
    for (const p of pixels) inside[p] = 1;
    let frontier: number[] = [];
    seeds.forEach((c, k) => {
      for (const p of c) (owner[p] = k), frontier.push(p);
    });
    while (frontier.length) {
      const next2: number[] = [];
      for (const p of frontier) {
        const x = p % w;
        for (const q of [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, p - w, p + w]) {
          if (q >= 0 && q < w * h && inside[q] && owner[q] === -1) (owner[q] = owner[p]!), next2.push(q);
        }
      }
      frontier = next2;
    }
    const parts: number[][] = seeds.map(() => []);
    for (const p of pixels) if (owner[p]! >= 0) parts[owner[p]!]!.push(p);
    return parts;
  }
  return null;
}

/** Detects the world's objects in an image, most confident first. */
export function detect(img: ImageBytes, options: DetectorOptions = {}): Detection[] {
  const [R, G, B] = planes(img);
  const { width: w, height: h } = img;
  const n = w * h;
  const minIou = options.minIou ?? 0.5;
  const minRadius = options.minRadius ?? (4 * Math.min(w, h)) / 64;
  const minFill = options.minFill ?? 0.7;
  // The world keeps every box 1 px inside the canvas; a fit reaching well past the edge is only
  // partly seen (its IoU then counts the visible part only), so it is not an object of the world.
  const inside = (f: Fit): boolean => f.cx - f.r >= -1 && f.cy - f.r >= -1 && f.cx + f.r <= w + 1 && f.cy + f.r <= h + 1;
  const accepted = (f: Fit | null): f is Fit => f !== null && f.iou >= minIou && f.r >= minRadius && f.fill >= minFill && inside(f);
  const minArea = options.minArea ?? Math.max(4, Math.round((12 * n) / 4096));
  const bg = borderMedian(R, G, B, w, h);
  // Nearest prototype per pixel, and whether it beats the background.
  const label = new Int8Array(n);
  const fg = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const r = R[p]!;
    const g = G[p]!;
    const b = B[p]!;
    let bestD = Infinity;
    let bestC = 0;
    for (let c = 0; c < PROTOTYPES.length; c++) {
      const d = dist2(r, g, b, PROTOTYPES[c]!);
      if (d < bestD) (bestD = d), (bestC = c);
    }
    label[p] = bestC;
    fg[p] = bestD < dist2(r, g, b, bg) ? 1 : 0;
  }
  const comps = components(fg, w, h);
  // Which component each pixel belongs to (−1: background).
  const compOf = new Int32Array(n).fill(-1);
  comps.forEach((pixels, id) => {
    for (const p of pixels) compOf[p] = id;
  });
  const scan: Scan = { R, G, B, w, h, bg, compOf, minArea };
  const fits: { fit: Fit; colour: number }[] = [];
  for (let compId = 0; compId < comps.length; compId++) {
    const comp = comps[compId]!;
    if (comp.length < minArea) continue;
    for (const cand of colourCandidates(comp, label, w, h, minArea)) {
      const { fit, own } = fitCandidate(scan, cand.pixels, cand.colour);
      if (fit !== null && fit.iou >= SPLIT_BELOW_IOU) {
        if (accepted(fit)) fits.push({ fit, colour: cand.colour });
        continue;
      }
      // A poor fit may be two objects of one colour that touch: keep the split when its parts fit better.
      const parts = own.length >= 2 * minArea ? splitByErosion(own, w, h, minArea) : null;
      const partFits = parts?.map((part) => fitCandidate(scan, part, cand.colour).fit) ?? [];
      const mean = partFits.reduce((s, f) => s + (f?.iou ?? 0), 0) / Math.max(1, partFits.length);
      if (partFits.length >= 2 && partFits.every(accepted) && mean > (fit?.iou ?? 0)) {
        for (const f of partFits) fits.push({ fit: f!, colour: cand.colour });
      } else if (accepted(fit)) {
        fits.push({ fit, colour: cand.colour });
      }
    }
  }
  return fits
    .map(({ fit, colour }) => ({
      shape: fit.shape,
      colour: COLOURS[colour]!,
      box: [fit.cx - fit.r, fit.cy - fit.r, fit.cx + fit.r, fit.cy + fit.r] as [number, number, number, number],
      confidence: fit.iou,
      cx: fit.cx,
      cy: fit.cy,
      r: fit.r,
      fill: fit.fill,
    }))
    .sort((a, b) => b.confidence - a.confidence);
}
