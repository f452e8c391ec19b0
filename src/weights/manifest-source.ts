import { CheckpointError, ManifestError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import type { ComponentManifest, ComponentName, ModelManifest, ShardEntry, StreamRange, TensorEntry } from './manifest.js';
import type { TensorDtype, TensorInfo, TensorSource } from './tensor-source.js';

/** Opens shard `index` of the component (a local file, a verified download, a cached blob). */
export type ShardReader = (shard: ShardEntry, index: number, signal?: AbortSignal) => Promise<ByteSource>;

const DTYPE: Readonly<Record<TensorEntry['format'], TensorDtype>> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8: 'Q8', q4: 'Q4' };

/** Where each shard starts in the component's logical stream. */
export function shardStarts(component: ComponentManifest): number[] {
  const starts: number[] = [];
  let at = 0;
  for (const shard of component.shards) {
    starts.push(at);
    at += shard.bytes;
  }
  return starts;
}

/**
 * The pieces of stream range [offset, offset+length) per shard: a tensor may span shards, and the
 * loader writes each piece to the GPU as its shard arrives.
 */
export function rangePieces(component: ComponentManifest, offset: number, length: number): { shard: number; shardOffset: number; rangeOffset: number; bytes: number }[] {
  const starts = shardStarts(component);
  const pieces: { shard: number; shardOffset: number; rangeOffset: number; bytes: number }[] = [];
  const end = offset + length;
  component.shards.forEach((shard, i) => {
    const start = starts[i] ?? 0;
    const from = Math.max(offset, start);
    const to = Math.min(end, start + shard.bytes);
    if (to > from) pieces.push({ shard: i, shardOffset: from - start, rangeOffset: from - offset, bytes: to - from });
  });
  return pieces;
}

/**
 * A component of a converted model as a TensorSource: tensors are read from its shards by range.
 * No integrity check happens here (the loader hashes whole shards); use it for local conversions,
 * tests and `verify --weights`. Partitioned tensors read as the concatenation of their parts.
 */
export function manifestSource(manifest: ModelManifest, component: ComponentName, openShard: ShardReader, origin = manifest.model): TensorSource {
  const c = manifest.components[component];
  if (!c) throw new ManifestError(`components.${component}`, `model ${manifest.model} has no ${component} component`);
  const tensors = new Map<string, TensorInfo>();
  for (const [name, t] of Object.entries(c.tensors)) tensors.set(name, { name, shape: t.shape, dtype: DTYPE[t.format], byteLength: t.bytes });
  const where = `${origin}/${component}`;
  const opened = new Map<number, Promise<ByteSource>>();
  const shardSource = (i: number, signal?: AbortSignal): Promise<ByteSource> => {
    let src = opened.get(i);
    const shard = c.shards[i];
    if (!src && shard) {
      src = openShard(shard, i, signal);
      opened.set(i, src);
      // A failed open must not be remembered: the next read may succeed (network back, file restored).
      src.catch(() => opened.delete(i));
    }
    return src ?? Promise.reject(new ManifestError(`components.${component}.shards[${i}]`, 'no such shard'));
  };
  const readRange = async (range: StreamRange, signal?: AbortSignal): Promise<Uint8Array> => {
    const pieces = rangePieces(c, range.offset, range.bytes);
    if (pieces.length === 1 && pieces[0]) {
      const p = pieces[0];
      return (await shardSource(p.shard, signal)).read(p.shardOffset, p.bytes, signal);
    }
    // Pieces are read before the whole is allocated: the manifest's sizes are untrusted, and a
    // shard shorter than claimed must fail as truncated, not as a failed terabyte allocation.
    const read = await Promise.all(pieces.map(async (p) => (await shardSource(p.shard, signal)).read(p.shardOffset, p.bytes, signal)));
    const out = new Uint8Array(range.bytes);
    pieces.forEach((p, i) => out.set(read[i] ?? new Uint8Array(0), p.rangeOffset));
    return out;
  };
  const readAll = async (ranges: readonly StreamRange[], signal?: AbortSignal): Promise<Uint8Array> => {
    if (ranges.length === 1 && ranges[0]) return readRange(ranges[0], signal);
    const parts = await Promise.all(ranges.map((r) => readRange(r, signal)));
    const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  };
  const entry = (name: string): TensorEntry => {
    const t = c.tensors[name];
    if (!t) throw new CheckpointError(name, `no such tensor in ${where}`);
    return t;
  };
  return {
    origin: where,
    tensors,
    async read(name, signal) {
      const t = entry(name);
      return readAll(t.parts ?? [t], signal);
    },
    async readScales(name, signal) {
      const t = entry(name);
      const ranges = t.parts ? t.parts.map((p) => p.scales) : [t.scales];
      if (ranges.some((r) => r === undefined)) throw new CheckpointError(name, `is ${t.format} and has no scales in ${where}`);
      return readAll(ranges as StreamRange[], signal);
    },
  };
}
