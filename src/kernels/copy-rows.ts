import copyRowsWgsl from '../../shaders/copy_rows.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import { elementCount } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { denseLayout, type RowLayout } from './matmul.js';
import { kernelSources } from '../shader/sources.js';

export interface CopyRowsArgs {
  readonly rows: number;
  readonly cols: number;
  readonly srcCols: number;
  readonly src: RowLayout;
  readonly dst: RowLayout;
  readonly hasSrc: boolean;
  readonly offsets: 'none' | 'per-row' | 'step';
  readonly offsetMul: number;
}

const WG = 64;
const OFFSET_CODE = { none: 0, 'per-row': 1, step: 2 } as const;

export const copyRowsKernel: KernelSpec<CopyRowsArgs> = {
  name: 'copy_rows',
  sources: kernelSources('copy_rows.wgsl', copyRowsWgsl),
  bindings: [
    { name: 'src', access: 'read' },
    { name: 'offsets', access: 'read' },
    { name: 'dst', access: 'write' },
  ],
  params: [
    ['rows', 'u32'], ['cols', 'u32'], ['src_cols', 'u32'],
    ['src_stride', 'u32'], ['src_col', 'u32'], ['src_seg', 'u32'], ['src_seg_rows', 'u32'], ['src_seg_off', 'u32'],
    ['dst_stride', 'u32'], ['dst_col', 'u32'], ['dst_seg', 'u32'], ['dst_seg_rows', 'u32'], ['dst_seg_off', 'u32'],
    ['offset_mul', 'u32'],
  ],
  variant: (a, _caps, precision) => ({
    precision,
    constants: { WG, HAS_SRC: a.hasSrc ? 1 : 0, OFFSETS: OFFSET_CODE[a.offsets] },
  }),
  plan: (a) => ({
    params: {
      rows: a.rows, cols: a.cols, src_cols: a.srcCols,
      src_stride: a.src.stride, src_col: a.src.col, src_seg: a.src.seg, src_seg_rows: a.src.segRows, src_seg_off: a.src.offset,
      dst_stride: a.dst.stride, dst_col: a.dst.col, dst_seg: a.dst.seg, dst_seg_rows: a.dst.segRows, dst_seg_off: a.dst.offset,
      offset_mul: a.offsetMul,
    },
    workgroups: foldedGrid(Math.ceil((a.rows * a.cols) / WG)),
  }),
};

/** A source of rows: a value (or weight in the activation type) read through a row layout. */
export interface RowSource {
  readonly value: Operand & object;
  /** Default: the operand as a dense `[rows, lastDim]` matrix. */
  readonly layout?: RowLayout;
  /** Columns taken from the source; the rest of `cols` is zero-filled. Default: all `cols`. */
  readonly cols?: number;
}

/**
 * Extra source row offset read from a u32 value: `per-row` adds `offsets[r]` to logical row r
 * (gathers such as each sequence's EOS token); `step` adds `offsets[0]·rowsPerStep` (with the
 * graph's step state: row block `step` of a per-step table).
 */
export type RowOffsets =
  | { readonly mode: 'per-row'; readonly value: Value }
  | { readonly mode: 'step'; readonly value: Value; readonly rowsPerStep: number };

export interface CopyRowsOptions {
  /** Logical rows copied. */
  readonly rows: number;
  /** Columns written per row. */
  readonly cols: number;
  /** `null`: write zeros. */
  readonly src: RowSource | null;
  /** Write into an existing value through a row layout instead of a new `[rows, cols]` one. */
  readonly into?: { readonly value: Value; readonly layout: RowLayout };
  readonly offsets?: RowOffsets;
  readonly label?: string;
}

/**
 * Strided row copy with zero fill: copies `rows × min(cols, src.cols)` elements from a row layout
 * of the source to a row layout of the destination and zero-fills the remaining columns.
 * Conditioning assembly (encoder outputs side by side, padded to the context width; T5 tokens
 * after the CLIP tokens), pooled/EOS selection, joint-sequence assembly, per-step table rows.
 */
export function copyRows(b: GraphBuilder, o: CopyRowsOptions): Value {
  const { rows, cols } = o;
  positive('copyRows rows', rows);
  positive('copyRows cols', cols);
  const out = o.into?.value ?? b.temp([rows, cols], o.label ?? 'copy_rows');
  const dst = o.into?.layout ?? denseLayout(rows, cols);
  checkLayout('copyRows destination', dst, rows, cols, out.shape);
  const srcCols = o.src ? (o.src.cols ?? cols) : 0;
  if (srcCols > cols) throw new InvalidArgumentError('copyRows src.cols', `at most cols = ${cols}`, srcCols);
  let src = denseLayout(rows, 1);
  if (o.src) {
    const width = o.src.value.shape.at(-1) as number;
    src = o.src.layout ?? denseLayout(elementCount(o.src.value.shape) / width, width);
    if (srcCols > 0 && !o.offsets) checkLayout('copyRows source', src, rows, srcCols, o.src.value.shape);
  }
  if (o.offsets?.mode === 'per-row' && elementCount(o.offsets.value.shape) < rows) {
    throw new InvalidArgumentError('copyRows per-row offsets', `at least ${rows} entries`, o.offsets.value.shape);
  }
  const args: CopyRowsArgs = {
    rows,
    cols,
    srcCols,
    src,
    dst,
    hasSrc: o.src !== null && srcCols > 0,
    offsets: o.offsets?.mode ?? 'none',
    offsetMul: o.offsets?.mode === 'step' ? o.offsets.rowsPerStep : 0,
  };
  b.dispatch(copyRowsKernel, args, [o.src?.value ?? null, o.offsets?.value ?? null, out], o.label ?? 'copy_rows');
  return out;
}

/** Row `step` of a per-step table `[steps, rowsPerStep, cols]` as a new `[rowsPerStep, cols]` value. */
export function stepRows(b: GraphBuilder, table: Value, label = `${table.label}[step]`): Value {
  const [steps, rowsPerStep, cols] = table.shape as [number, number, number];
  if (table.shape.length !== 3 || steps < 1) throw new InvalidArgumentError(`${table.label} shape`, '[steps, rows, cols]', table.shape);
  const out = b.temp([rowsPerStep, cols], label, table.type);
  return copyRows(b, {
    rows: rowsPerStep,
    cols,
    src: { value: table, layout: denseLayout(steps * rowsPerStep, cols) },
    into: { value: out, layout: denseLayout(rowsPerStep, cols) },
    offsets: { mode: 'step', value: b.stepState(), rowsPerStep },
    label,
  });
}

function positive(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(name, 'a positive integer', n);
}

/** The physical extent the layout reaches for `rows × cols` must fit the value. */
function checkLayout(what: string, l: RowLayout, rows: number, cols: number, shape: readonly number[]): void {
  if (l.seg < 1 || (rows > l.seg && l.segRows < l.seg)) {
    throw new InvalidArgumentError(`${what} layout`, 'seg ≥ 1 and segRows ≥ seg', l);
  }
  if (l.col + cols > l.stride) throw new InvalidArgumentError(`${what} columns`, `col + cols ≤ stride ${l.stride}`, l.col + cols);
  const last = rows - 1;
  const maxRow = Math.floor(last / l.seg) * l.segRows + l.offset + (last % l.seg);
  const need = maxRow * l.stride + l.col + cols;
  const have = elementCount(shape);
  if (need > have) throw new InvalidArgumentError(`${what} extent`, `at most ${have} elements`, need);
}
