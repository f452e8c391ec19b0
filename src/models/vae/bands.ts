import { LimitExceededError } from '../../errors.js';
import type { GraphBuilder, Value } from '../../graph/builder.js';
import type { Precision } from '../../shader/contract.js';
import { conv2d, type ConvMode } from '../../kernels/conv2d.js';
import { copyRows } from '../../kernels/copy-rows.js';
import { groupNormApply, groupNormStatistics, type MapRows } from '../../kernels/group-norm.js';
import type { ImageRows } from '../../kernels/image-rows.js';
import type { GpuTensor } from '../../tensor/tensor.js';

/**
 * Row bands: how the VAE keeps feature maps larger than one storage binding (DESIGN §7). One
 * partition of the latent rows is used at every resolution: band j holds latent rows
 * [bounds[j], bounds[j+1]) and, in a map with `scale` rows per latent row, image rows
 * [scale·bounds[j], scale·bounds[j+1]). Each band is its own value, stored with one halo row
 * above and below where a neighbour exists. A 3×3 convolution of band j reads only band j: its
 * halo rows are refreshed from the neighbours (copies of one row) before the convolution, which
 * covers stride 1, the upsample (input rows s·a−1 … s·b) and the stride-2 downsample (rows
 * 2s·a … 2s·b). GroupNorm statistics and the mid-block attention still span all bands, so a split
 * decode equals the unsplit one up to f32 rounding of the statistics' combination.
 */

export interface BandPlan {
  readonly bounds: readonly number[];
}

/** One map that will exist: `scale` image rows per latent row, `channels` per pixel. */
export interface MapKind {
  readonly scale: number;
  readonly channels: number;
}

export interface BandShape {
  readonly batch: number;
  readonly latentHeight: number;
  readonly latentWidth: number;
  readonly precision: Precision;
  /** The binding cap every band must fit (the engine's maxStorageBufferBindingSize). */
  readonly maxBinding: number;
  /** Force at least this many bands (tests, memory budgets). */
  readonly minBands?: number;
}

function boundsFor(rows: number, bands: number): number[] {
  return Array.from({ length: bands + 1 }, (_, j) => Math.floor((j * rows) / bands));
}

function bandBytes(kind: MapKind, s: BandShape, ownLatentRows: number, bands: number): number {
  const element = s.precision === 'f16' ? 2 : 4;
  const halo = bands > 1 ? 2 : 0;
  return s.batch * (kind.scale * ownLatentRows + halo) * kind.scale * s.latentWidth * kind.channels * element;
}

/** The fewest equal-as-possible bands in which every map kind fits the binding cap. */
export function planBands(kinds: readonly MapKind[], s: BandShape): BandPlan {
  for (let n = Math.max(1, s.minBands ?? 1); n <= s.latentHeight; n++) {
    const own = Math.ceil(s.latentHeight / n);
    if (kinds.every((k) => bandBytes(k, s, own, n) <= s.maxBinding)) return { bounds: boundsFor(s.latentHeight, n) };
  }
  const worst = kinds.reduce((a, k) => (bandBytes(k, s, 1, s.latentHeight) > bandBytes(a, s, 1, s.latentHeight) ? k : a));
  throw new LimitExceededError(
    'maxStorageBufferBindingSize',
    bandBytes(worst, s, 1, s.latentHeight),
    s.maxBinding,
    `VAE feature map of ${worst.channels} channels at ${worst.scale * s.latentWidth} pixels per row (one latent row per band)`,
  );
}

/** A feature map in row bands (a single band is the whole map, without halos). */
export interface FeatureMap {
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly scale: number;
  readonly bands: readonly MapRows[];
  readonly plan: BandPlan;
}

/** Band j of a map with `scale` rows per latent row: its own rows and its stored rows. */
function bandRows(plan: BandPlan, scale: number, j: number): { row0: number; rows: number; top: number; bottom: number } {
  const n = plan.bounds.length - 1;
  const row0 = scale * (plan.bounds[j] as number);
  const rows = scale * (plan.bounds[j + 1] as number) - row0;
  return { row0, rows, top: j > 0 ? 1 : 0, bottom: j < n - 1 ? 1 : 0 };
}

/** Allocates a map's band values (each `[batch, stored rows·width, channels]`). */
export function newMap(b: GraphBuilder, plan: BandPlan, o: { batch: number; scale: number; width: number; channels: number; label: string }): FeatureMap {
  const n = plan.bounds.length - 1;
  const bands: MapRows[] = [];
  for (let j = 0; j < n; j++) {
    const r = bandRows(plan, o.scale, j);
    const stored = r.rows + r.top + r.bottom;
    const value = b.temp([o.batch, stored * o.width, o.channels], n > 1 ? `${o.label}#${j}` : o.label);
    bands.push({ view: { value, row0: r.row0 - r.top, rows: stored }, row0: r.row0, rows: r.rows });
  }
  const height = o.scale * (plan.bounds[n] as number);
  return { batch: o.batch, height, width: o.width, channels: o.channels, scale: o.scale, bands, plan };
}

/** Rows of a band's buffer as a copy_rows layout: `count` image rows from buffer row `first`. */
function rowLayout(view: ImageRows, width: number, channels: number, first: number) {
  return { seg: width, segRows: view.rows * width, offset: (first - view.row0) * width, col: 0, stride: channels };
}

/** Copies global row `row` of band `from` into band `to`'s buffer (a halo refresh). */
function copyRow(b: GraphBuilder, map: FeatureMap, from: MapRows, to: MapRows, row: number): void {
  copyRows(b, {
    rows: map.batch * map.width,
    cols: map.channels,
    src: { value: from.view.value, layout: rowLayout(from.view, map.width, map.channels, row) },
    into: { value: to.view.value, layout: rowLayout(to.view, map.width, map.channels, row) },
    label: `halo ${to.view.value.label}`,
  });
}

/** Refreshes every band's halo rows from its neighbours' edge rows (needed before a 3×3 conv). */
export function exchangeHalos(b: GraphBuilder, map: FeatureMap): void {
  const n = map.bands.length;
  for (let j = 0; j < n; j++) {
    const band = map.bands[j] as MapRows;
    if (j > 0) copyRow(b, map, map.bands[j - 1] as MapRows, band, band.row0 - 1);
    if (j < n - 1) copyRow(b, map, map.bands[j + 1] as MapRows, band, band.row0 + band.rows);
  }
}

/**
 * A map whose bands are copied out of a whole-image value `[batch, height·width, channels]`,
 * halo rows included; a single band is the value itself.
 */
export function mapFromWhole(b: GraphBuilder, whole: Value, plan: BandPlan, o: { scale: number; width: number; label: string }): FeatureMap {
  const [batch, , channels] = whole.shape as [number, number, number];
  if (plan.bounds.length === 2) {
    const height = o.scale * (plan.bounds[1] as number);
    const view = { value: whole, row0: 0, rows: height };
    return { batch, height, width: o.width, channels, scale: o.scale, bands: [{ view, row0: 0, rows: height }], plan };
  }
  const map = newMap(b, plan, { batch, scale: o.scale, width: o.width, channels, label: o.label });
  const wholeView = { value: whole, row0: 0, rows: map.height };
  for (const band of map.bands) {
    copyRows(b, {
      rows: batch * band.view.rows * o.width,
      cols: channels,
      src: { value: whole, layout: { seg: band.view.rows * o.width, segRows: map.height * o.width, offset: (band.view.row0 - wholeView.row0) * o.width, col: 0, stride: channels } },
      into: { value: band.view.value, layout: { seg: band.view.rows * o.width, segRows: band.view.rows * o.width, offset: 0, col: 0, stride: channels } },
      label: `split ${band.view.value.label}`,
    });
  }
  return map;
}

export interface MapConvOptions {
  readonly weight: GpuTensor;
  readonly bias: GpuTensor;
  readonly mode?: ConvMode;
  readonly residual?: FeatureMap;
  readonly label: string;
}

function scaleAfter(mode: ConvMode, scale: number): number {
  return mode === 'upsample' ? 2 * scale : mode === 'downsample' ? scale / 2 : scale;
}

/** A convolution applied band by band (halos refreshed first for 3×3 kernels). */
export function mapConv(b: GraphBuilder, x: FeatureMap, o: MapConvOptions): FeatureMap {
  const mode = o.mode ?? 'same';
  const ksize = o.weight.shape[1] as number;
  if (ksize > 1 && x.bands.length > 1) exchangeHalos(b, x);
  const cout = o.weight.shape[0] as number;
  const scale = scaleAfter(mode, x.scale);
  const width = mode === 'upsample' ? 2 * x.width : mode === 'downsample' ? Math.floor(x.width / 2) : x.width;
  const out = newMap(b, x.plan, { batch: x.batch, scale, width, channels: cout, label: o.label });
  x.bands.forEach((band, j) => {
    const target = out.bands[j] as MapRows;
    const residual = o.residual?.bands[j]?.view;
    conv2d(b, band.view, {
      weight: o.weight,
      bias: o.bias,
      mode,
      inHeight: x.height,
      inWidth: x.width,
      outRow0: target.row0,
      outRows: target.rows,
      into: target.view,
      ...(residual ? { residual } : {}),
      label: o.label,
    });
  });
  return out;
}

/** GroupNorm (+ SiLU) of a banded map with statistics over every band together. */
export function mapGroupNorm(
  b: GraphBuilder,
  x: FeatureMap,
  o: { gamma: GpuTensor; beta: GpuTensor; silu: boolean; groups: number; eps: number; label: string },
): FeatureMap {
  const coef = groupNormStatistics(b, x.bands, { width: x.width, groups: o.groups, eps: o.eps, gamma: o.gamma, beta: o.beta, label: o.label });
  const out = newMap(b, x.plan, { batch: x.batch, scale: x.scale, width: x.width, channels: x.channels, label: o.label });
  x.bands.forEach((band, j) => {
    groupNormApply(b, band, coef, { silu: o.silu, width: x.width, into: (out.bands[j] as MapRows).view, label: o.label });
  });
  return out;
}

/** Names a map's bands as taps (`name`, or `name#j` per band when split). */
export function tapMap(b: GraphBuilder, name: string, map: FeatureMap): FeatureMap {
  map.bands.forEach((band, j) => b.tap(map.bands.length > 1 ? `${name}#${j}` : name, band.view.value));
  return map;
}

/** Names a map's bands as outputs (`name`, or `name#j` per band when split). */
export function outputMap(b: GraphBuilder, name: string, map: FeatureMap): FeatureMap {
  map.bands.forEach((band, j) => b.output(map.bands.length > 1 ? `${name}#${j}` : name, band.view.value));
  return map;
}

/** Where each band's own rows sit in its buffer, to reassemble a map read back band by band. */
export interface BandLayoutInfo {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly batch: number;
  readonly bands: readonly { readonly row0: number; readonly rows: number; readonly bufferRow0: number; readonly bufferRows: number }[];
}

export function bandLayoutOf(map: FeatureMap): BandLayoutInfo {
  return {
    height: map.height,
    width: map.width,
    channels: map.channels,
    batch: map.batch,
    bands: map.bands.map((band) => ({ row0: band.row0, rows: band.rows, bufferRow0: band.view.row0, bufferRows: band.view.rows })),
  };
}

/** Joins bands read back (NHWC, each with its halo rows) into one `[batch, height·width, C]` array. */
export function joinBands(layout: BandLayoutInfo, parts: readonly Float32Array[]): Float32Array {
  const { height, width, channels, batch } = layout;
  const rowSize = width * channels;
  const out = new Float32Array(batch * height * rowSize);
  layout.bands.forEach((band, j) => {
    const data = parts[j] as Float32Array;
    for (let bi = 0; bi < batch; bi++) {
      for (let r = 0; r < band.rows; r++) {
        const from = (bi * band.bufferRows + band.row0 + r - band.bufferRow0) * rowSize;
        out.set(data.subarray(from, from + rowSize), (bi * height + band.row0 + r) * rowSize);
      }
    }
  });
  return out;
}
