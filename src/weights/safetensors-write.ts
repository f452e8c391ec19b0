import type { TensorDtype } from './tensor-source.js';

/** One tensor to write: little-endian element bytes in the given dtype. */
export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: TensorDtype | string;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Serialises tensors as one safetensors file in memory. For tests and small exports (the
 * converter writes manifests and shards, not safetensors). The header is padded with spaces to
 * a multiple of 8 so the data starts aligned, as the reference implementation does.
 */
export function encodeSafetensors(tensors: readonly SafetensorsTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}
