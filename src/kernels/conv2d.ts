import conv2dWgsl from '../../shaders/conv2d.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand } from '../graph/builder.js';
import { FORMAT_CODE, type GpuTensor, type StorageFormat } from '../tensor/tensor.js';
import type { KernelSpec } from '../shader/contract.js';
import { checkRowsInView, type ImageRows, viewDims } from './image-rows.js';
import { kernelSources } from '../shader/sources.js';

/**
 * `same`: stride 1, zero padding (k−1)/2. `upsample`: nearest 2× then `same` (SD3 Upsample).
 * `downsample`: zero-pad right and bottom by 1, then stride 2 without padding (SD3 Downsample).
 */
export type ConvMode = 'same' | 'upsample' | 'downsample';

/** `shared`: workgroup-memory tiles (GPUs); `direct`: registers only (CPU emulation). */
export type ConvTiling = 'shared' | 'direct';

export interface Conv2dArgs {
  readonly batch: number;
  readonly ksize: number;
  readonly mode: ConvMode;
  readonly format: StorageFormat;
  readonly hasBias: boolean;
  readonly hasResidual: boolean;
  readonly inH: number;
  readonly inW: number;
  readonly cin: number;
  readonly cout: number;
  readonly outW: number;
  readonly outRow0: number;
  readonly outRows: number;
  readonly x: { readonly row0: number; readonly rows: number };
  readonly y: { readonly row0: number; readonly rows: number };
  readonly r: { readonly row0: number; readonly rows: number };
  readonly tiling?: ConvTiling;
}

/** Outputs per invocation (pixels × channels): shared-memory path, direct path (conv2d.wgsl). */
const SHARED_BLOCK = { pixels: 8, channels: 4 } as const;
const DIRECT_BLOCK = { pixels: 64, channels: 8 } as const;
const MAX_GRID = 65535;

function pow2Ceil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export const conv2dKernel: KernelSpec<Conv2dArgs> = {
  name: 'conv2d',
  sources: kernelSources('conv2d.wgsl', conv2dWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'w', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'residual', access: 'read' },
    { name: 'y', access: 'write' },
  ],
  params: [
    ['in_h', 'u32'], ['in_w', 'u32'], ['cin', 'u32'], ['x_row0', 'u32'], ['x_rows', 'u32'],
    ['out_w', 'u32'], ['cout', 'u32'], ['out_row0', 'u32'], ['out_rows', 'u32'],
    ['y_row0', 'u32'], ['y_rows', 'u32'], ['r_row0', 'u32'], ['r_rows', 'u32'],
    ['stride', 'u32'], ['pad', 'u32'], ['tiles', 'u32'], ['batch', 'u32'],
  ],
  variant(a, caps, precision) {
    const shared = (a.tiling ?? (caps.isFallbackAdapter ? 'direct' : 'shared')) === 'shared';
    const block = shared ? SHARED_BLOCK : DIRECT_BLOCK;
    // Narrow outputs (conv_out: 3 channels) get narrow workgroups instead of idle threads.
    const wgX = Math.min(16, pow2Ceil(Math.ceil(a.cout / block.channels)));
    const wgY = shared ? 16 : Math.max(1, 16 / wgX);
    return {
      precision,
      constants: {
        WG_X: wgX,
        WG_Y: wgY,
        TILE_K4: shared ? 4 : 1,
        USE_SHARED: shared ? 1 : 0,
        KSIZE: a.ksize,
        UPSAMPLE: a.mode === 'upsample' ? 1 : 0,
        W_FORMAT: FORMAT_CODE[a.format],
        HAS_BIAS: a.hasBias ? 1 : 0,
        HAS_RESIDUAL: a.hasResidual ? 1 : 0,
      },
    };
  },
  plan(a, v) {
    const wgX = v.constants.WG_X ?? 16;
    const wgY = v.constants.WG_Y ?? 16;
    const block = v.constants.USE_SHARED ? SHARED_BLOCK : DIRECT_BLOCK;
    const tiles = Math.ceil((a.outRows * a.outW) / (wgY * block.pixels));
    const total = tiles * a.batch;
    return {
      params: {
        in_h: a.inH, in_w: a.inW, cin: a.cin, x_row0: a.x.row0, x_rows: a.x.rows,
        out_w: a.outW, cout: a.cout, out_row0: a.outRow0, out_rows: a.outRows,
        y_row0: a.y.row0, y_rows: a.y.rows, r_row0: a.r.row0, r_rows: a.r.rows,
        stride: a.mode === 'downsample' ? 2 : 1,
        pad: a.mode === 'downsample' ? 0 : (a.ksize - 1) / 2,
        tiles,
        batch: a.batch,
      },
      workgroups: [Math.ceil(a.cout / (wgX * block.channels)), Math.min(total, MAX_GRID), Math.ceil(total / MAX_GRID)],
    };
  },
};

/** Output size of a convolution of an `h × w` input. */
export function convOutputSize(mode: ConvMode, h: number, w: number): { height: number; width: number } {
  if (mode === 'upsample') return { height: 2 * h, width: 2 * w };
  if (mode === 'downsample') return { height: Math.floor(h / 2), width: Math.floor(w / 2) };
  return { height: h, width: w };
}

/** Input rows [first, last] that output rows [row0, row0 + rows) read, clipped to the image. */
export function convInputRows(mode: ConvMode, ksize: number, inH: number, row0: number, rows: number): [number, number] {
  const half = (ksize - 1) / 2;
  let first: number;
  let last: number;
  if (mode === 'upsample') {
    first = Math.floor((row0 - half) / 2);
    last = Math.floor((row0 + rows - 1 + half) / 2);
  } else if (mode === 'downsample') {
    first = 2 * row0;
    last = 2 * (row0 + rows - 1) + ksize - 1;
  } else {
    first = row0 - half;
    last = row0 + rows - 1 + half;
  }
  return [Math.max(0, first), Math.min(inH - 1, last)];
}

export interface Conv2dOptions {
  /** `[cout, k, k, cin]` (canonical layout), f32/f16/bf16. */
  readonly weight: GpuTensor;
  readonly bias?: GpuTensor | null;
  readonly mode?: ConvMode;
  /** Size of the whole input image (the view may hold only some of its rows). */
  readonly inHeight: number;
  readonly inWidth: number;
  /** Output rows computed by this dispatch (default: all). */
  readonly outRow0?: number;
  readonly outRows?: number;
  /** Where the output rows go (default: a new value holding exactly them). */
  readonly into?: ImageRows;
  /** Added to the output, read at the same global rows. */
  readonly residual?: ImageRows;
  readonly tiling?: ConvTiling;
  readonly label?: string;
}

/**
 * Checks a canonical conv weight `[cout, k, k, cin]` (cin a multiple of 4: the kernel reads channels
 * as vec4) and returns its dims.
 */
export function checkConvWeight(w: GpuTensor, cin: number): { cout: number; ksize: number } {
  const [cout, kh, kw, wc] = w.shape as [number, number, number, number];
  if (w.shape.length !== 4 || kh !== kw || (kh !== 1 && kh !== 3) || wc !== cin) {
    throw new CheckpointError(w.label, 'conv weight has the wrong shape', `[cout, k, k, ${cin}] with k 1 or 3`, JSON.stringify(w.shape));
  }
  if (cin % 4 !== 0) {
    throw new CheckpointError(w.label, 'conv input channels must be a multiple of 4 (pad them at canonicalisation)', 'cin % 4 == 0', String(cin));
  }
  if (w.format !== 'f32' && w.format !== 'f16' && w.format !== 'bf16') {
    throw new CheckpointError(w.label, 'conv weights must be f32, f16 or bf16', 'f32|f16|bf16', w.format);
  }
  return { cout, ksize: kh };
}

/**
 * A 3×3 or 1×1 convolution of the input view, for output rows [outRow0, outRow0 + outRows),
 * with bias and residual fused. The input view must hold every input row those outputs read
 * (halo rows included). Returns the view written.
 */
export function conv2d(b: GraphBuilder, x: ImageRows, o: Conv2dOptions): ImageRows {
  const mode = o.mode ?? 'same';
  const { batch, channels: cin } = viewDims(x, o.inWidth, `conv input ${x.value.label}`);
  const { cout, ksize } = checkConvWeight(o.weight, cin);
  if (mode !== 'same' && ksize !== 3) throw new InvalidArgumentError('conv2d mode', '"same" for 1×1 kernels', mode);
  const out = convOutputSize(mode, o.inHeight, o.inWidth);
  const outRow0 = o.outRow0 ?? 0;
  const outRows = o.outRows ?? out.height - outRow0;
  if (outRow0 < 0 || outRows < 1 || outRow0 + outRows > out.height) {
    throw new InvalidArgumentError('conv2d output rows', `within [0, ${out.height})`, `[${outRow0}, ${outRow0 + outRows})`);
  }
  const [first, last] = convInputRows(mode, ksize, o.inHeight, outRow0, outRows);
  checkRowsInView(x, first, last - first + 1, `conv input ${x.value.label}`);
  const label = o.label ?? `conv ${o.weight.label}`;
  const y: ImageRows = o.into ?? { value: b.temp([batch, outRows * out.width, cout], label), row0: outRow0, rows: outRows };
  const yDims = viewDims(y, out.width, `conv output ${y.value.label}`);
  if (yDims.batch !== batch || yDims.channels !== cout) {
    throw new InvalidArgumentError(`conv output ${y.value.label} shape`, `[${batch}, rows·${out.width}, ${cout}]`, y.value.shape);
  }
  checkRowsInView(y, outRow0, outRows, `conv output ${y.value.label}`);
  if (o.residual) {
    const r = viewDims(o.residual, out.width, `conv residual ${o.residual.value.label}`);
    if (r.batch !== batch || r.channels !== cout) {
      throw new InvalidArgumentError(`conv residual ${o.residual.value.label} shape`, `[${batch}, rows·${out.width}, ${cout}]`, o.residual.value.shape);
    }
    checkRowsInView(o.residual, outRow0, outRows, `conv residual ${o.residual.value.label}`);
  }
  const args: Conv2dArgs = {
    batch, ksize, mode,
    format: o.weight.format,
    hasBias: Boolean(o.bias),
    hasResidual: Boolean(o.residual),
    inH: o.inHeight, inW: o.inWidth, cin, cout,
    outW: out.width, outRow0, outRows,
    x: { row0: x.row0, rows: x.rows },
    y: { row0: y.row0, rows: y.rows },
    r: o.residual ? { row0: o.residual.row0, rows: o.residual.rows } : { row0: 0, rows: 0 },
    ...(o.tiling ? { tiling: o.tiling } : {}),
  };
  const bindings: Operand[] = [x.value, o.weight, o.bias ?? null, o.residual?.value ?? null, y.value];
  b.dispatch(conv2dKernel, args, bindings, label);
  return y;
}

