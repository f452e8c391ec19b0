import type { GpuContext } from '../gpu/device.js';
import { ManifestError } from '../errors.js';
import type { GpuTensor } from '../tensor/tensor.js';
import type { VerifiedShard } from './loader.js';
import type { ComponentName, ModelManifest, StreamRange, TensorEntry } from './manifest.js';
import { rangePieces } from './manifest-source.js';

/**
 * Writes a component's tensors into GPU buffers as its shards arrive (DESIGN §9): one buffer per
 * tensor (per part for partitioned tensors, one more for scales), filled piecewise at the byte
 * offsets the manifest gives, so a shard can be dropped as soon as it is written and a tensor
 * spanning shards is complete when its last shard lands. Straight copies: no parsing, no CPU pass.
 */

/** The two GpuContext methods the uploader uses (tests pass a recorder). */
export type UploadTarget = Pick<GpuContext, 'createBuffer' | 'write'>;

export interface UploadedTensor {
  readonly entry: TensorEntry;
  /** One tensor, or one per part (rows in order) for partitioned entries. */
  readonly parts: readonly GpuTensor[];
}

export interface ComponentUploader {
  readonly tensors: ReadonlyMap<string, UploadedTensor>;
  /** Feed to `loadShards({ onShard })` (shards of other components are ignored). */
  onShard(shard: VerifiedShard): void;
  /** Whether every shard of the component has been written. */
  readonly complete: boolean;
}

/**
 * STORAGE | COPY_DST | COPY_SRC as the WebGPU spec numbers them; literal because the
 * `GPUBufferUsage` global exists only once a WebGPU implementation is installed.
 */
const WEIGHT_USAGE = 0x80 | 0x08 | 0x04;

interface Target {
  readonly range: StreamRange;
  readonly buffer: GPUBuffer;
}

export function createComponentUploader(ctx: UploadTarget, manifest: ModelManifest, component: ComponentName, usage: GPUBufferUsageFlags = WEIGHT_USAGE): ComponentUploader {
  const c = manifest.components[component];
  if (!c) throw new ManifestError(`components.${component}`, `model ${manifest.model} has no ${component} component`);
  const targets: Target[] = [];
  const tensors = new Map<string, UploadedTensor>();
  const make = (label: string, range: StreamRange): GPUBuffer => {
    const buffer = ctx.createBuffer(label, Math.max(4, Math.ceil(range.bytes / 4) * 4), usage);
    targets.push({ range, buffer });
    return buffer;
  };
  for (const [name, entry] of Object.entries(c.tensors)) {
    const label = `${component}.${name}`;
    const cols = entry.shape[entry.shape.length - 1] ?? 1;
    const pieces = entry.parts ?? [{ ...entry, rows: 0 }];
    const parts = pieces.map((part, i): GpuTensor => {
      const suffix = entry.parts ? `#${i}` : '';
      const shape = entry.parts ? [part.rows, cols] : entry.shape;
      const scales = part.scales
        ? { buffer: make(`${label}${suffix}.scales`, part.scales), offset: 0, shape: [part.scales.bytes / (entry.format === 'q8' ? 4 : 2)], format: entry.format === 'q8' ? 'f32' : 'f16', label: `${label}${suffix}.scales` } as const
        : undefined;
      return { buffer: make(`${label}${suffix}`, part), offset: 0, shape, format: entry.format, label: `${label}${suffix}`, ...(scales ? { scales } : {}) };
    });
    tensors.set(name, { entry, parts });
  }
  const written = new Set<number>();
  return {
    tensors,
    get complete() {
      return written.size === c.shards.length;
    },
    onShard(shard) {
      if (shard.component !== component || written.has(shard.index)) return;
      for (const target of targets) {
        for (const piece of rangePieces(c, target.range.offset, target.range.bytes)) {
          if (piece.shard !== shard.index) continue;
          let bytes = shard.bytes.subarray(piece.shardOffset, piece.shardOffset + piece.bytes);
          // writeBuffer needs 4-byte sizes; only a range's last piece can be ragged (shards are 256-aligned).
          if (bytes.byteLength % 4 !== 0) {
            const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
            padded.set(bytes);
            bytes = padded;
          }
          ctx.write(target.buffer, piece.rangeOffset, bytes);
        }
      }
      written.add(shard.index);
    },
  };
}
