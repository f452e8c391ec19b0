import matmulWgsl from '../../shaders/matmul.wgsl?raw';
import matmulVec4Wgsl from '../../shaders/matmul_vec4.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Operand, Value } from '../graph/builder.js';
import { FORMAT_CODE, type GpuTensor, type StorageFormat } from '../tensor/tensor.js';
import type { KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export type MatmulEpilogue = 'none' | 'gelu_tanh' | 'gated_residual' | 'silu';
const EPILOGUE_CODE: Readonly<Record<MatmulEpilogue, number>> = { none: 0, gelu_tanh: 1, gated_residual: 2, silu: 3 };

/**
 * Rows of an operand gathered by segment: logical row r lives at physical row
 * `floor(r/seg)·segRows + offset + r mod seg`, column `col + c`, row stride `stride`. A plain
 * `[M, K]` matrix is `{seg: M, segRows: M, offset: 0, col: 0, stride: K}`.
 */
export interface RowLayout {
  readonly seg: number;
  readonly segRows: number;
  readonly offset: number;
  readonly col: number;
  readonly stride: number;
}

export interface MatmulArgs {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly format: StorageFormat;
  readonly epilogue: MatmulEpilogue;
  readonly hasBias: boolean;
  readonly x: RowLayout;
  readonly y: RowLayout;
  /** gated_residual: gate row b = floor(m / gateSeg), element `b·gateStride + gateCol + n`. */
  readonly gateSeg: number;
  readonly gateStride: number;
  readonly gateCol: number;
  readonly resStride: number;
}

export const matmulKernel: KernelSpec<MatmulArgs> = {
  name: 'matmul',
  sources: kernelSources('matmul.wgsl', matmulWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'w', access: 'read' },
    { name: 'scales', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'gate', access: 'read' },
    { name: 'residual', access: 'read' },
    { name: 'y', access: 'write' },
  ],
  params: [
    ['m', 'u32'], ['n', 'u32'], ['k', 'u32'],
    ['x_stride', 'u32'], ['x_col', 'u32'], ['x_seg', 'u32'], ['x_seg_rows', 'u32'], ['x_seg_off', 'u32'],
    ['y_stride', 'u32'], ['y_col', 'u32'], ['y_seg', 'u32'], ['y_seg_rows', 'u32'], ['y_seg_off', 'u32'],
    ['gate_seg', 'u32'], ['gate_stride', 'u32'], ['gate_col', 'u32'], ['res_stride', 'u32'],
  ],
  variant(a, caps, precision) {
    // Small M (adaLN, pooled and timestep MLPs): one row of 4-row tiles, wide in N.
    const wgY = a.m <= 4 ? 1 : a.m <= 16 ? 4 : 16;
    const wgX = 256 / wgY > 64 ? 64 : 256 / wgY;
    const shared = !caps.isFallbackAdapter;
    return {
      precision,
      constants: {
        WG_X: wgX,
        WG_Y: wgY,
        TILE_K: shared ? 16 : 1,
        USE_SHARED: shared ? 1 : 0,
        W_FORMAT: FORMAT_CODE[a.format],
        EPILOGUE: EPILOGUE_CODE[a.epilogue],
        HAS_BIAS: a.hasBias ? 1 : 0,
      },
    };
  },
  plan(a, v) {
    const wgX = v.constants.WG_X ?? 16;
    const wgY = v.constants.WG_Y ?? 16;
    return {
      params: {
        m: a.m, n: a.n, k: a.k,
        x_stride: a.x.stride, x_col: a.x.col, x_seg: a.x.seg, x_seg_rows: a.x.segRows, x_seg_off: a.x.offset,
        y_stride: a.y.stride, y_col: a.y.col, y_seg: a.y.seg, y_seg_rows: a.y.segRows, y_seg_off: a.y.offset,
        gate_seg: a.gateSeg, gate_stride: a.gateStride, gate_col: a.gateCol, res_stride: a.resStride,
      },
      workgroups: [Math.ceil(a.n / (wgX * 4)), Math.ceil(a.m / (wgY * 4)), 1],
    };
  },
};

/**
 * The wide-load variant for CPU emulation: same bindings and Params, x and w read as vec4 (K % 8
 * == 0, 16-byte aligned rows; q4 weights already need K % 32). 64 invocations in a row, each 4×4
 * outputs: the fastest shape on SwiftShader among 8×8, 16×16 and 64×1 workgroups.
 */
export const matmulVec4Kernel: KernelSpec<MatmulArgs> = {
  ...matmulKernel,
  name: 'matmul_vec4',
  sources: kernelSources('matmul_vec4.wgsl', matmulVec4Wgsl),
  variant(a, _caps, precision) {
    // adaLN, pooled and timestep projections run at M = batch (2 with CFG): 2 or 1 rows per
    // invocation instead of 4 repeated ones.
    const rows = a.m <= 1 ? 1 : a.m <= 2 ? 2 : 4;
    return {
      precision,
      constants: { WG_X: 64, WG_Y: 1, ROWS: rows, W_FORMAT: FORMAT_CODE[a.format], EPILOGUE: EPILOGUE_CODE[a.epilogue], HAS_BIAS: a.hasBias ? 1 : 0 },
    };
  },
  plan(a, v) {
    const { params } = matmulKernel.plan(a, v);
    return { params, workgroups: [Math.ceil(a.n / 256), Math.ceil(a.m / (v.constants.ROWS ?? 4)), 1] };
  },
};

/** Whether the vec4 variant can read these operands (and the adapter is one it is built for). */
function useVec4(a: MatmulArgs, fallbackAdapter: boolean): boolean {
  // A vec4 binding drops a tail shorter than 16 bytes: int8 rows of K % 16 != 0 would lose the
  // last row's second half, so q8 needs K % 16 here (every other format is whole at K % 8).
  const kMultiple = a.format === 'q8' ? 16 : 8;
  return fallbackAdapter && a.k % kMultiple === 0 && a.x.stride % 4 === 0 && a.x.col % 4 === 0;
}

export function denseLayout(rows: number, cols: number): RowLayout {
  return { seg: rows, segRows: rows, offset: 0, col: 0, stride: cols };
}

export interface LinearOptions {
  readonly bias?: GpuTensor | null;
  readonly epilogue?: MatmulEpilogue;
  /** Rows of x to use (default all rows of x as `[M, K]`). */
  readonly rows?: number;
  readonly xLayout?: RowLayout;
  /** Write into an existing value (joint buffers) instead of a new `[M, N]` one. */
  readonly into?: { readonly value: Value; readonly layout: RowLayout };
  /** gated_residual: out = residual + gate[b, gateCol + n] · (x·Wᵀ + b), b = floor(row / gateSeg). */
  readonly gate?: { readonly value: Value; readonly seg: number; readonly col: number };
  /**
   * Read at the output's physical row (`into`'s layout), `N` wide: a row chunk written into a
   * larger value adds the residual rows of the same positions.
   */
  readonly residual?: Value;
  readonly label?: string;
}

/** Checks that a weight is a `[N, K]` matrix in a format the kernel can read at this K. */
export function checkLinearWeight(w: GpuTensor, k: number): number {
  if (w.shape.length !== 2 || w.shape[1] !== k) {
    throw new CheckpointError(w.label, 'Linear weight has the wrong shape', `[N, ${k}]`, JSON.stringify(w.shape));
  }
  const need = { f32: 1, f16: 2, bf16: 2, q8: 4, q4: 32 }[w.format];
  if (k % need !== 0) throw new CheckpointError(w.label, `format ${w.format} needs K % ${need} == 0`, `K multiple of ${need}`, String(k));
  if ((w.format === 'q8' || w.format === 'q4') && !w.scales) throw new CheckpointError(w.label, `${w.format} weight without scales`);
  return w.shape[0] as number;
}

/** `x · Wᵀ (+ bias)` with an optional fused epilogue; returns the output value. */
export function linear(b: GraphBuilder, x: Value, w: GpuTensor, o: LinearOptions = {}): Value {
  const k = o.xLayout ? (w.shape[1] as number) : (x.shape.at(-1) as number);
  const n = checkLinearWeight(w, k);
  const m = o.rows ?? x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const epilogue = o.epilogue ?? (o.gate ? 'gated_residual' : 'none');
  if (epilogue === 'gated_residual' && (!o.gate || !o.residual)) {
    throw new InvalidArgumentError('linear gate/residual', 'both for the gated_residual epilogue', 'missing');
  }
  const out = o.into?.value ?? b.temp([...x.shape.slice(0, -1), n], o.label ?? w.label);
  const yLayout = o.into?.layout ?? denseLayout(m, n);
  const bindings: Operand[] = [x, w, w.scales ?? null, o.bias ?? null, o.gate?.value ?? null, o.residual ?? null, out];
  const args: MatmulArgs = {
    m, n, k,
    format: w.format,
    epilogue,
    hasBias: Boolean(o.bias),
    x: o.xLayout ?? denseLayout(m, k),
    y: yLayout,
    gateSeg: o.gate?.seg ?? 1,
    gateStride: o.gate ? (o.gate.value.shape.at(-1) as number) : 0,
    gateCol: o.gate?.col ?? 0,
    resStride: n,
  };
  b.dispatch(useVec4(args, b.caps.isFallbackAdapter) ? matmulVec4Kernel : matmulKernel, args, bindings, o.label ?? `matmul ${w.label}`);
  return out;
}
