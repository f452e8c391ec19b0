import { CheckpointError } from '../errors.js';
import type { TensorInfo, TensorSource } from '../weights/tensor-source.js';

/**
 * One canonical tensor: the checkpoint tensors it is made of, concatenated along rows (a single
 * name is a plain rename; q, k, v become one fused qkv matrix or bias).
 */
export type CanonicalEntry = readonly string[];

/**
 * A TensorSource under canonical names, built from a map canonical name → checkpoint names. Fused
 * tensors must agree in dtype and in every dimension but the first; their bytes (and q8/q4 scales,
 * which are per row or per row-group) are the row-wise concatenation, so a fused tensor is exactly
 * what a checkpoint storing it fused would hold. Reading a fused tensor reads its parts one by one.
 */
export function canonicalView(source: TensorSource, entries: ReadonlyMap<string, CanonicalEntry>, origin = source.origin): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, parts] of entries) tensors.set(name, fusedInfo(source, name, parts));
  const partsOf = (name: string): CanonicalEntry => {
    const parts = entries.get(name);
    if (!parts) throw new CheckpointError(name, `is not a canonical tensor of ${origin}`);
    return parts;
  };
  const view: TensorSource = {
    origin,
    tensors,
    async read(name, signal) {
      return concatBytes(await readEach(partsOf(name), (p) => source.read(p, signal)));
    },
  };
  if (!source.readScales) return view;
  const readScales = source.readScales.bind(source);
  return { ...view, readScales: async (name, signal) => concatBytes(await readEach(partsOf(name), (p) => readScales(p, signal))) };
}

function fusedInfo(source: TensorSource, name: string, parts: CanonicalEntry): TensorInfo {
  const infos = parts.map((p) => {
    const info = source.tensors.get(p);
    if (!info) throw new CheckpointError(p, `is missing from ${source.origin} (needed for ${name})`);
    return info;
  });
  const first = infos[0];
  if (!first) throw new CheckpointError(name, 'has no source tensors');
  let rows = 0;
  let byteLength = 0;
  for (const info of infos) {
    const sameTail = info.shape.length === first.shape.length && info.shape.every((d, i) => i === 0 || d === first.shape[i]);
    if (info.dtype !== first.dtype || !sameTail) {
      throw new CheckpointError(info.name, `cannot be fused into ${name} with ${first.name}`, `${first.dtype} [*, ${first.shape.slice(1).join(', ')}]`, `${info.dtype} ${JSON.stringify(info.shape)}`);
    }
    rows += info.shape[0] ?? 1;
    byteLength += info.byteLength;
  }
  const shape = infos.length === 1 ? first.shape : [rows, ...first.shape.slice(1)];
  return { name, shape, dtype: first.dtype, byteLength };
}

async function readEach(parts: CanonicalEntry, read: (name: string) => Promise<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const p of parts) out.push(await read(p));
  return out;
}

/** The chunks end to end (one chunk is returned as is): fused q/k/v, parts of a split tensor. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Every name of `source` that starts with `prefix` is claimed by `entries` or ignored; anything
 * else is an unexpected tensor (a different architecture or a mis-assembled checkpoint).
 */
export function checkNoUnexpected(source: TensorSource, prefix: string, entries: ReadonlyMap<string, CanonicalEntry>, ignored: (rest: string) => boolean): void {
  const used = new Set<string>();
  for (const parts of entries.values()) for (const p of parts) used.add(p);
  for (const name of source.tensors.keys()) {
    if (!name.startsWith(prefix) || used.has(name) || ignored(name.slice(prefix.length))) continue;
    throw new CheckpointError(name, `is not a tensor this model reads (from ${source.origin})`);
  }
}

/**
 * Missing, unexpected or mis-shaped canonical tensors → CheckpointError naming the first one, by
 * its checkpoint name(s) when `describe` maps canonical names back.
 */
export function checkTensorSet(tensors: ReadonlyMap<string, TensorInfo>, expected: ReadonlyMap<string, readonly number[]>, describe: (name: string) => string = (n) => n): void {
  for (const [name, shape] of expected) {
    const info = tensors.get(name);
    if (!info) throw new CheckpointError(describe(name), 'is missing');
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(describe(name), 'has the wrong shape', JSON.stringify(shape), JSON.stringify(info.shape));
    }
  }
  for (const name of tensors.keys()) {
    if (!expected.has(name)) throw new CheckpointError(describe(name), 'is not a tensor of this configuration');
  }
}

/** Sorted layer indices present under `layersPrefix` (gaps surface as missing tensors later). */
export function layerIndices(source: TensorSource, layersPrefix: string): number[] {
  const found = new Set<number>();
  for (const name of source.tensors.keys()) {
    if (!name.startsWith(layersPrefix)) continue;
    const m = /^(\d+)\./.exec(name.slice(layersPrefix.length));
    if (m) found.add(Number(m[1]));
  }
  const max = Math.max(-1, ...found);
  return Array.from({ length: max + 1 }, (_, i) => i);
}
