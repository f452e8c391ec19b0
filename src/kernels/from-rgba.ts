import fromRgbaWgsl from '../../shaders/from_rgba.wgsl?raw';
import { InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { checkRowsInView, type ImageRows, viewDims } from './image-rows.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;

export interface FromRgbaArgs {
  readonly batch: number;
  readonly width: number;
  readonly height: number;
  readonly row0: number;
  readonly rows: number;
  readonly y: { readonly row0: number; readonly rows: number };
}

export const fromRgbaKernel: KernelSpec<FromRgbaArgs> = {
  name: 'from_rgba',
  sources: kernelSources('from_rgba.wgsl', fromRgbaWgsl),
  bindings: [
    { name: 'rgba', access: 'read' },
    { name: 'y', access: 'readwrite' },
  ],
  params: [['width', 'u32'], ['height', 'u32'], ['row0', 'u32'], ['rows', 'u32'], ['y_row0', 'u32'], ['y_rows', 'u32'], ['batch', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { width: a.width, height: a.height, row0: a.row0, rows: a.rows, y_row0: a.y.row0, y_rows: a.y.rows, batch: a.batch },
    workgroups: foldedGrid(Math.ceil((a.batch * a.rows * a.width) / WG)),
  }),
};

/**
 * Rows [row0, row0 + rows) of packed RGBA8 pixels (u32 `[B, height·width]`, R in the low byte) as
 * the encoder's input: `2·(u8/255) − 1` per colour channel, 4 channels with the fourth zero, into
 * the view `into` (`[B, ·, 4]`).
 */
export function fromRgba(b: GraphBuilder, rgba: Value, into: ImageRows, o: { width: number; height: number; row0: number; rows: number; label?: string }): ImageRows {
  const { batch, channels } = viewDims(into, o.width, `from_rgba output ${into.value.label}`);
  if (channels !== 4) throw new InvalidArgumentError(`from_rgba output ${into.value.label} channels`, '4', channels);
  if (rgba.type !== 'u32' || rgba.shape.length !== 2 || rgba.shape[0] !== batch || rgba.shape[1] !== o.width * o.height) {
    throw new InvalidArgumentError(`from_rgba input ${rgba.label}`, `u32 [${batch}, ${o.width * o.height}]`, `${rgba.type} ${JSON.stringify(rgba.shape)}`);
  }
  checkRowsInView(into, o.row0, o.rows, `from_rgba output ${into.value.label}`);
  const args: FromRgbaArgs = { batch, width: o.width, height: o.height, row0: o.row0, rows: o.rows, y: { row0: into.row0, rows: into.rows } };
  b.dispatch(fromRgbaKernel, args, [rgba, into.value], o.label ?? 'from_rgba');
  return into;
}
