import groupNormWgsl from '../../shaders/group_norm.wgsl?raw';
import finalizeWgsl from '../../shaders/group_norm_finalize.wgsl?raw';
import statsWgsl from '../../shaders/group_norm_stats.wgsl?raw';
import { CheckpointError, InvalidArgumentError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import type { GpuTensor } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { checkRowsInView, type ImageRows, viewDims } from './image-rows.js';
import { kernelSources } from '../shader/sources.js';

const WG = 64;
/** Elements of one group reduced by one statistics workgroup. */
const CHUNK_ELEMENTS = 16384;

interface StatsArgs {
  readonly batch: number;
  readonly width: number;
  readonly channels: number;
  readonly groups: number;
  readonly row0: number;
  readonly rows: number;
  readonly chunkRows: number;
  readonly x: { readonly row0: number; readonly rows: number };
  readonly part0: number;
  readonly parts: number;
}

export const groupNormStatsKernel: KernelSpec<StatsArgs> = {
  name: 'group_norm_stats',
  sources: kernelSources('group_norm_stats.wgsl', statsWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'partials', access: 'readwrite' },
  ],
  params: [
    ['width', 'u32'], ['channels', 'u32'], ['groups', 'u32'], ['row0', 'u32'], ['rows', 'u32'],
    ['chunk_rows', 'u32'], ['x_row0', 'u32'], ['x_rows', 'u32'], ['part0', 'u32'], ['parts', 'u32'],
  ],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: {
      width: a.width, channels: a.channels, groups: a.groups, row0: a.row0, rows: a.rows,
      chunk_rows: a.chunkRows, x_row0: a.x.row0, x_rows: a.x.rows, part0: a.part0, parts: a.parts,
    },
    workgroups: [a.groups, Math.ceil(a.rows / a.chunkRows), a.batch],
  }),
};

interface FinalizeArgs {
  readonly pairs: number;
  readonly parts: number;
  readonly eps: number;
  readonly channels: number;
  readonly groups: number;
}

export const groupNormFinalizeKernel: KernelSpec<FinalizeArgs> = {
  name: 'group_norm_finalize',
  sources: kernelSources('group_norm_finalize.wgsl', finalizeWgsl),
  bindings: [
    { name: 'partials', access: 'read' },
    { name: 'gamma', access: 'read' },
    { name: 'beta', access: 'read' },
    { name: 'coef', access: 'write' },
  ],
  params: [['pairs', 'u32'], ['parts', 'u32'], ['eps', 'f32'], ['channels', 'u32'], ['groups', 'u32']],
  variant: (_a, _caps, precision) => ({ precision, constants: { WG } }),
  plan: (a) => ({
    params: { pairs: a.pairs, parts: a.parts, eps: a.eps, channels: a.channels, groups: a.groups },
    workgroups: [Math.ceil(a.pairs / WG), 1, 1],
  }),
};

interface ApplyArgs {
  readonly batch: number;
  readonly width: number;
  readonly channels: number;
  readonly row0: number;
  readonly rows: number;
  readonly x: { readonly row0: number; readonly rows: number };
  readonly y: { readonly row0: number; readonly rows: number };
  readonly silu: boolean;
}

export const groupNormKernel: KernelSpec<ApplyArgs> = {
  name: 'group_norm',
  sources: kernelSources('group_norm.wgsl', groupNormWgsl),
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'coef', access: 'read' },
    { name: 'y', access: 'write' },
  ],
  params: [
    ['width', 'u32'], ['channels', 'u32'], ['row0', 'u32'], ['rows', 'u32'],
    ['x_row0', 'u32'], ['x_rows', 'u32'], ['y_row0', 'u32'], ['y_rows', 'u32'], ['batch', 'u32'],
  ],
  variant: (a, _caps, precision) => ({ precision, constants: { WG, SILU: a.silu ? 1 : 0 } }),
  plan: (a) => ({
    params: {
      width: a.width, channels: a.channels, row0: a.row0, rows: a.rows,
      x_row0: a.x.row0, x_rows: a.x.rows, y_row0: a.y.row0, y_rows: a.y.rows, batch: a.batch,
    },
    workgroups: foldedGrid(Math.ceil((a.batch * a.rows * a.width * (a.channels / 4)) / WG)),
  }),
};

/** Global rows [row0, row0 + rows) of a map, held by `view` (a band's own rows, without halos). */
export interface MapRows {
  readonly view: ImageRows;
  readonly row0: number;
  readonly rows: number;
}

export interface GroupNormShape {
  readonly width: number;
  readonly groups: number;
}

function checkShape(parts: readonly MapRows[], o: GroupNormShape): { batch: number; channels: number } {
  const first = parts[0];
  if (!first) throw new InvalidArgumentError('groupNorm parts', 'at least one row range', 0);
  const dims = viewDims(first.view, o.width, `group norm input ${first.view.value.label}`);
  if (dims.channels % o.groups !== 0 || dims.channels % 4 !== 0) {
    throw new InvalidArgumentError('groupNorm channels', `a multiple of 4 and of groups = ${o.groups}`, dims.channels);
  }
  for (const part of parts) {
    const d = viewDims(part.view, o.width, `group norm input ${part.view.value.label}`);
    if (d.batch !== dims.batch || d.channels !== dims.channels) {
      throw new InvalidArgumentError(`group norm input ${part.view.value.label} shape`, `[${dims.batch}, rows·${o.width}, ${dims.channels}]`, part.view.value.shape);
    }
    checkRowsInView(part.view, part.row0, part.rows, `group norm input ${part.view.value.label}`);
  }
  return dims;
}

export interface GroupNormStatisticsOptions extends GroupNormShape {
  readonly gamma: GpuTensor;
  readonly beta: GpuTensor;
  readonly eps: number;
  readonly label?: string;
}

/**
 * GroupNorm over all rows of all `parts` together (the bands of one map): statistics per (batch
 * item, group), two-pass per chunk and combined exactly, folded with γ and β into per-channel
 * coefficients, an f32 `[batch, 3, channels]` value (mean, rstd·γ, β) for `groupNormApply`.
 */
export function groupNormStatistics(b: GraphBuilder, parts: readonly MapRows[], o: GroupNormStatisticsOptions): Value {
  const { batch, channels } = checkShape(parts, o);
  checkAffine(o.gamma, o.beta, channels);
  const cpg = channels / o.groups;
  const chunkRows = Math.max(1, Math.floor(CHUNK_ELEMENTS / (o.width * cpg)));
  const chunks = parts.map((p) => Math.ceil(p.rows / chunkRows));
  const total = chunks.reduce((s, n) => s + n, 0);
  const label = o.label ?? 'group_norm';
  const partials = b.temp([batch, o.groups, total, 4], `${label}.partials`, 'f32');
  let part0 = 0;
  parts.forEach((p, i) => {
    const args: StatsArgs = {
      batch, width: o.width, channels, groups: o.groups, row0: p.row0, rows: p.rows, chunkRows,
      x: { row0: p.view.row0, rows: p.view.rows }, part0, parts: total,
    };
    b.dispatch(groupNormStatsKernel, args, [p.view.value, partials], `${label}.stats`);
    part0 += chunks[i] as number;
  });
  const coef = b.temp([batch, 3, channels], `${label}.coef`, 'f32');
  const args: FinalizeArgs = { pairs: batch * o.groups, parts: total, eps: o.eps, channels, groups: o.groups };
  b.dispatch(groupNormFinalizeKernel, args, [partials, o.gamma, o.beta, coef], `${label}.finalize`);
  return coef;
}

function checkAffine(gamma: GpuTensor, beta: GpuTensor, channels: number): void {
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== channels || t.format !== 'f32') {
      throw new CheckpointError(t.label, `group norm ${name} must be f32 [${channels}]`, `[${channels}] f32`, `${JSON.stringify(t.shape)} ${t.format}`);
    }
  }
}

export interface GroupNormApplyOptions {
  readonly width: number;
  readonly silu: boolean;
  /** Where the rows go (default: a new value holding exactly them). */
  readonly into?: ImageRows;
  readonly label?: string;
}

/** Normalises rows of a map with coefficients from `groupNormStatistics` (optional SiLU). */
export function groupNormApply(b: GraphBuilder, x: MapRows, coef: Value, o: GroupNormApplyOptions): ImageRows {
  const { batch, channels } = checkShape([x], { width: o.width, groups: 1 });
  if (coef.type !== 'f32' || coef.shape.length !== 3 || coef.shape[0] !== batch || coef.shape[1] !== 3 || coef.shape[2] !== channels) {
    throw new InvalidArgumentError('group norm coefficients', `f32 [${batch}, 3, ${channels}]`, `${coef.type} ${JSON.stringify(coef.shape)}`);
  }
  const label = o.label ?? 'group_norm';
  const y = o.into ?? { value: b.temp([batch, x.rows * o.width, channels], label), row0: x.row0, rows: x.rows };
  checkShape([{ view: y, row0: x.row0, rows: x.rows }], { width: o.width, groups: 1 });
  const args: ApplyArgs = {
    batch, width: o.width, channels, row0: x.row0, rows: x.rows,
    x: { row0: x.view.row0, rows: x.view.rows }, y: { row0: y.row0, rows: y.rows }, silu: o.silu,
  };
  b.dispatch(groupNormKernel, args, [x.view.value, coef, y.value], label);
  return y;
}

/** GroupNorm (+ SiLU) of one whole map held by one view. */
export function groupNorm(b: GraphBuilder, x: ImageRows, o: GroupNormStatisticsOptions & GroupNormApplyOptions): ImageRows {
  const rows: MapRows = { view: x, row0: x.row0, rows: x.rows };
  return groupNormApply(b, rows, groupNormStatistics(b, [rows], o), o);
}
