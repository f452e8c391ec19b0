import { CheckpointError } from '../errors.js';
import type { TensorInfo, TensorSource } from './tensor-source.js';

/**
 * Several tensor sources seen as one (the shards of a sharded checkpoint, or the components of a
 * single-file checkpoint read from loose files). A name present in two sources is an error rather
 * than "last wins": silently picking one copy hides a mis-assembled checkpoint.
 */
export function mergeTensorSources(sources: readonly TensorSource[], origin?: string): TensorSource {
  const owner = new Map<string, TensorSource>();
  const tensors = new Map<string, TensorInfo>();
  for (const source of sources) {
    for (const [name, info] of source.tensors) {
      const previous = owner.get(name);
      if (previous) {
        throw new CheckpointError(name, `appears in both ${previous.origin} and ${source.origin}`);
      }
      owner.set(name, source);
      tensors.set(name, info);
    }
  }
  const merged: TensorSource = {
    origin: origin ?? sources.map((s) => s.origin).join(' + '),
    tensors,
    read(name, signal) {
      const source = owner.get(name);
      if (!source) return Promise.reject(new CheckpointError(name, `no such tensor in ${merged.origin}`));
      return source.read(name, signal);
    },
  };
  if (sources.some((s) => s.readScales)) {
    return {
      ...merged,
      readScales(name, signal) {
        const reader = owner.get(name)?.readScales;
        if (!reader) return Promise.reject(new CheckpointError(name, `has no quantisation scales in ${merged.origin}`));
        return reader.call(owner.get(name), name, signal);
      },
    };
  }
  return merged;
}
