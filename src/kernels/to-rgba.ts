import toRgbaWgsl from '../../shaders/to_rgba.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { checkRowsInView, type ImageRows, viewDims } from './image-rows.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;

export interface ToRgbaArgs {
  readonly batch: number;
  readonly width: number;
  readonly height: number;
  readonly row0: number;
  readonly rows: number;
  readonly x: { readonly row0: number; readonly rows: number };
}

export const toRgbaKernel: KernelSpec<ToRgbaArgs> = {
  name: 'to_rgba',
  sources: kernelSources('to_rgba.wgsl', toRgbaWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'rgba', access: 'readwrite' },
  ],
  params: [['width', 'u32'], ['height', 'u32'], ['row0', 'u32'], ['rows', 'u32'], ['x_row0', 'u32'], ['x_rows', 'u32'], ['batch', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { width: a.width, height: a.height, row0: a.row0, rows: a.rows, x_row0: a.x.row0, x_rows: a.x.rows, batch: a.batch },
    workgroups: foldedGrid(Math.ceil((a.batch * a.rows * a.width) / WG)),
  }),
};

/**
 * Converts rows [row0, row0 + rows) of a decoded `[B, ·, 3]` float image (values ≈ [−1, 1]) to
 * packed RGBA8 in `rgba`, a u32 `[B, height·width]` value (one pixel per u32, R in the low byte),
 * exactly as the SD3 reference converts: trunc(255·clamp((x+1)/2, 0, 1)).
 */
export function toRgba(b: GraphBuilder, x: ImageRows, rgba: Value, o: { width: number; height: number; row0?: number; rows?: number; label?: string }): Value {
  const { batch, channels } = viewDims(x, o.width, `to_rgba input ${x.value.label}`);
  if (channels !== 3) throw new InvalidArgumentError(`to_rgba input ${x.value.label} channels`, '3', channels);
  if (rgba.type !== 'u32' || rgba.shape.length !== 2 || rgba.shape[0] !== batch || rgba.shape[1] !== o.width * o.height) {
    throw new InvalidArgumentError(`to_rgba output ${rgba.label}`, `u32 [${batch}, ${o.width * o.height}]`, `${rgba.type} ${JSON.stringify(rgba.shape)}`);
  }
  const row0 = o.row0 ?? x.row0;
  const rows = o.rows ?? x.rows;
  checkRowsInView(x, row0, rows, `to_rgba input ${x.value.label}`);
  const args: ToRgbaArgs = { batch, width: o.width, height: o.height, row0, rows, x: { row0: x.row0, rows: x.rows } };
  b.dispatch(toRgbaKernel, args, [x.value, rgba], o.label ?? 'to_rgba');
  return rgba;
}
