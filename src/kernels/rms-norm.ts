import rmsNormWgsl from '../../shaders/rms_norm.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import type { GpuTensor } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

interface RmsNormArgs {
  readonly rows: number;
  readonly width: number;
  readonly cols: number;
  readonly group: number;
  readonly segment: number;
  readonly eps: number;
  readonly hasWeight: boolean;
}

const WG = 64;

export const rmsNormKernel: KernelSpec<RmsNormArgs> = {
  name: 'rms_norm',
  sources: kernelSources('rms_norm.wgsl', rmsNormWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['width', 'u32'], ['cols', 'u32'], ['group', 'u32'], ['segment', 'u32'], ['groups_per_row', 'u32'], ['total', 'u32'], ['eps', 'f32']],
  variant: (a, caps, precision) => ({ precision, constants: { WG, HAS_WEIGHT: a.hasWeight ? 1 : 0, SERIAL: caps.isFallbackAdapter ? 1 : 0 } }),
  plan: (a, v) => {
    const groupsPerRow = a.cols / a.group;
    return {
      params: { width: a.width, cols: a.cols, group: a.group, segment: a.segment, groups_per_row: groupsPerRow, total: a.rows * groupsPerRow, eps: a.eps },
      workgroups: foldedGrid(v.constants.SERIAL ? Math.ceil((a.rows * groupsPerRow) / WG) : a.rows * groupsPerRow),
    };
  },
};

export interface RmsNormOptions {
  readonly weight?: GpuTensor | null;
  /** Columns normalised together (a head for QK-norm, the whole row for T5). */
  readonly group: number;
  /** Columns sharing one weight vector of length `group` (QK-norm: H, so q and k get their own). */
  readonly segment?: number;
  /** Only the first `cols` columns are normalised and written (default: the row width). */
  readonly cols?: number;
  readonly eps: number;
  readonly label?: string;
}

/** Grouped RMS norm; output `[..., cols]`. */
export function rmsNorm(b: GraphBuilder, x: Value, o: RmsNormOptions): Value {
  const width = x.shape.at(-1) as number;
  const cols = o.cols ?? width;
  const segment = o.segment ?? cols;
  if (cols > width || cols % o.group !== 0 || segment % o.group !== 0 || cols % segment !== 0) {
    throw new InvalidArgumentError('rmsNorm cols/group/segment', `group | segment | cols ≤ ${width}`, [cols, o.group, segment]);
  }
  const weightLength = (cols / segment) * o.group;
  if (o.weight && (o.weight.shape.length !== 1 || o.weight.shape[0] !== weightLength)) {
    throw new CheckpointError(o.weight.label, 'RMSNorm weight has the wrong shape', `[${weightLength}]`, JSON.stringify(o.weight.shape));
  }
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const out = b.temp([...x.shape.slice(0, -1), cols], o.label ?? `rms(${x.label})`);
  b.dispatch(rmsNormKernel, { rows, width, cols, group: o.group, segment, eps: o.eps, hasWeight: Boolean(o.weight) }, [x, o.weight ?? null, out], o.label ?? 'rms_norm');
  return out;
}
