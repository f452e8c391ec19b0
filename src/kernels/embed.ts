import embedWgsl from '../../shaders/embed.wgsl?raw';
import { CheckpointError, InvalidArgumentError, LimitExceededError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/builder.js';
import { BINDING_ALIGNMENT, FORMAT_CODE, type GpuTensor, type StorageFormat, storageBytes } from '../tensor/tensor.js';
import { foldedGrid, type KernelSpec } from '../shader/contract.js';
import { kernelSources } from '../shader/sources.js';

export interface EmbedArgs {
  readonly rows: number;
  readonly dim: number;
  readonly tokens: number;
  readonly format: StorageFormat;
  readonly posFormat: StorageFormat | null;
  readonly idStart: number;
  readonly idCount: number;
  readonly posOffset: number;
}

const WG = 64;

export const embedKernel: KernelSpec<EmbedArgs> = {
  name: 'embed',
  sources: kernelSources('embed.wgsl', embedWgsl),
  bindings: [
    { name: 'ids', access: 'read' },
    { name: 'table', access: 'read' },
    { name: 'scales', access: 'read' },
    { name: 'pos', access: 'read' },
    { name: 'out', access: 'write' },
  ],
  params: [['rows', 'u32'], ['dim', 'u32'], ['tokens', 'u32'], ['id_start', 'u32'], ['id_count', 'u32'], ['pos_offset', 'u32']],
  variant: (a, _caps, precision) => ({
    precision,
    constants: {
      WG,
      W_FORMAT: FORMAT_CODE[a.format],
      HAS_POS: a.posFormat ? 1 : 0,
      POS_FORMAT: a.posFormat ? FORMAT_CODE[a.posFormat] : 0,
    },
  }),
  plan: (a) => ({
    params: { rows: a.rows, dim: a.dim, tokens: a.tokens, id_start: a.idStart, id_count: a.idCount, pos_offset: a.posOffset },
    workgroups: foldedGrid(Math.ceil((a.rows * a.dim) / WG)),
  }),
};

/** A token table: one tensor, or its row parts in order (each bindable on its own). */
export type EmbeddingTable = GpuTensor | readonly GpuTensor[];

export interface EmbedOptions {
  /** Position table `[P, D]` (f32/f16/bf16); row `posOffset + t` is added to token t of each sequence. */
  readonly pos?: GpuTensor | null;
  readonly posOffset?: number;
  /** Tokens per sequence: ids are `[batch·tokens]`, batch-major. */
  readonly tokens: number;
  readonly label?: string;
}

/**
 * Token embeddings `[batch, tokens, D]`: rows of the table gathered by id (a u32 value of
 * `batch·tokens` ids), plus the position rows. A table larger than the binding limit is dispatched
 * once per row part. Ids must lie below the vocabulary size (checked by the caller on the CPU: ids
 * are run data the graph never sees).
 */
export function embed(b: GraphBuilder, ids: Value, table: EmbeddingTable, o: EmbedOptions): Value {
  const parts = tableParts(table, b.caps.maxStorageBufferBindingSize);
  const first = parts[0] as GpuTensor;
  const dim = first.shape[1] as number;
  const rows = ids.shape.reduce((p, d) => p * d, 1);
  if (ids.type !== 'u32') throw new InvalidArgumentError('embed ids', 'a u32 value', ids.type);
  if (rows % o.tokens !== 0) throw new InvalidArgumentError('embed tokens', `a divisor of ${rows} ids`, o.tokens);
  const pos = o.pos ?? null;
  const posOffset = o.posOffset ?? 0;
  if (pos) {
    if (pos.shape.length !== 2 || pos.shape[1] !== dim || (pos.shape[0] as number) < posOffset + o.tokens) {
      throw new CheckpointError(pos.label, 'position table does not cover the sequence', `[≥ ${posOffset + o.tokens}, ${dim}]`, JSON.stringify(pos.shape));
    }
    if (pos.format !== 'f32' && pos.format !== 'f16' && pos.format !== 'bf16') {
      throw new CheckpointError(pos.label, 'position table format', 'f32, f16 or bf16', pos.format);
    }
  }
  const out = b.temp([rows / o.tokens, o.tokens, dim], o.label ?? 'embeddings');
  let idStart = 0;
  for (const part of parts) {
    const idCount = part.shape[0] as number;
    const args: EmbedArgs = {
      rows, dim, tokens: o.tokens, format: part.format, posFormat: pos?.format ?? null, idStart, idCount, posOffset,
    };
    b.dispatch(embedKernel, args, [ids, part, part.scales ?? null, pos, out], `${o.label ?? 'embed'} rows ${idStart}+${idCount}`);
    idStart += idCount;
  }
  return out;
}

/** Number of rows of a table (all parts together). */
export function tableRows(table: EmbeddingTable): number {
  return isParts(table) ? table.reduce((n, t) => n + (t.shape[0] as number), 0) : (table.shape[0] as number);
}

function isParts(table: EmbeddingTable): table is readonly GpuTensor[] {
  return Array.isArray(table);
}

/**
 * The table as bindable row parts: given parts are checked, and a single tensor over the binding
 * limit is cut into views whose byte offsets (table and scales) stay 256-aligned.
 */
export function tableParts(table: EmbeddingTable, maxBinding: number): readonly GpuTensor[] {
  const parts = isParts(table) ? table : splitRows(table, maxBinding);
  if (parts.length === 0) throw new InvalidArgumentError('embedding table', 'at least one row part', 0);
  const dim = (parts[0] as GpuTensor).shape[1];
  for (const part of parts) {
    if (part.shape.length !== 2 || part.shape[1] !== dim) {
      throw new CheckpointError(part.label, 'embedding table part has the wrong shape', `[rows, ${dim}]`, JSON.stringify(part.shape));
    }
    const bytes = storageBytes(part.shape, part.format);
    if (bytes > maxBinding) throw new LimitExceededError('maxStorageBufferBindingSize', bytes, maxBinding, `embedding table part "${part.label}"`);
  }
  return parts;
}

function splitRows(t: GpuTensor, maxBinding: number): readonly GpuTensor[] {
  const [rows, dim] = [t.shape[0] as number, t.shape[1] as number];
  if (storageBytes(t.shape, t.format) <= maxBinding) return [t];
  const rowBytes = rowByteCount(t.format, dim);
  const scaleRowBytes = t.scales ? rowByteCount(t.scales.format, t.scales.shape[1] ?? 1) : 0;
  const step = lcm(alignRows(rowBytes), scaleRowBytes ? alignRows(scaleRowBytes) : 1);
  const perPart = Math.floor(maxBinding / rowBytes / step) * step;
  if (perPart < 1) throw new LimitExceededError('maxStorageBufferBindingSize', rowBytes * step, maxBinding, `one aligned row group of "${t.label}"`);
  const parts: GpuTensor[] = [];
  for (let start = 0; start < rows; start += perPart) {
    const n = Math.min(perPart, rows - start);
    const view: GpuTensor = { buffer: t.buffer, offset: t.offset + start * rowBytes, shape: [n, dim], format: t.format, label: `${t.label}[${start}:${start + n}]` };
    const s = t.scales;
    parts.push(s ? { ...view, scales: { ...s, offset: s.offset + start * scaleRowBytes, shape: [n, ...s.shape.slice(1)], label: `${s.label}[${start}:${start + n}]` } } : view);
  }
  return parts;
}

function rowByteCount(format: StorageFormat, cols: number): number {
  const bits = { f32: 32, f16: 16, bf16: 16, q8: 8, q4: 4 }[format];
  const bytes = (cols * bits) / 8;
  if (!Number.isInteger(bytes)) throw new InvalidArgumentError('embedding row width', `whole bytes per row in ${format}`, cols);
  return bytes;
}

/** Fewest rows whose byte size is a multiple of the binding offset alignment. */
function alignRows(rowBytes: number): number {
  return BINDING_ALIGNMENT / gcd(rowBytes, BINDING_ALIGNMENT);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
