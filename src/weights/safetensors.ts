import { CheckpointError, FileFormatError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { mergeTensorSources } from './merge.js';
import type { TensorDtype, TensorInfo, TensorSource } from './tensor-source.js';

/**
 * Reader for the safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the data, with offsets
 * relative to the end of the header. Only the header is read when opening; tensor bytes are read
 * on demand, one range per tensor.
 */

/** Real headers are a few hundred KB; anything this large is corruption or an attack. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1,
  BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

const SUPPORTED: ReadonlySet<string> = new Set<TensorDtype>(['F32', 'F16', 'BF16']);

export interface SafetensorsEntry extends TensorInfo {
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
}

export interface SafetensorsSource extends TensorSource {
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  /** The header's `__metadata__` string map (empty when absent). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors left out under `unsupported: 'skip'`, with their dtype. */
  readonly skipped: readonly { readonly name: string; readonly dtype: string }[];
}

export interface OpenSafetensorsOptions {
  /**
   * `'error'` (default): a tensor of a dtype other than F32/F16/BF16 rejects the file.
   * `'skip'`: such tensors are left out (e.g. CLIP's int64 `position_ids` buffers, which no
   * model reads) and listed in `skipped`.
   */
  readonly unsupported?: 'error' | 'skip';
  readonly signal?: AbortSignal;
}

export async function openSafetensors(src: ByteSource, options: OpenSafetensorsOptions = {}): Promise<SafetensorsSource> {
  const file = src.name;
  if (src.size < 8) throw new FileFormatError(file, `not a safetensors file: ${src.size} bytes, shorter than the 8-byte header length`);
  const lengthBytes = await src.read(0, 8, options.signal);
  const headerLength = Number(new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES) {
    throw new FileFormatError(file, `safetensors header claims ${headerLength} bytes, more than the ${MAX_HEADER_BYTES}-byte limit: the file is corrupt or not safetensors`);
  }
  if (8 + headerLength > src.size) {
    throw new FileFormatError(file, `safetensors header claims ${headerLength} bytes but the file has only ${src.size - 8} after the length: truncated`);
  }
  const headerBytes = await src.read(8, headerLength, options.signal);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (cause) {
    throw new FileFormatError(file, `safetensors header is not valid UTF-8 JSON (${(cause as Error).message})`);
  }
  return parseHeader(src, header, 8 + headerLength, options);
}

function parseHeader(src: ByteSource, header: unknown, dataStart: number, options: OpenSafetensorsOptions): SafetensorsSource {
  const file = src.name;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FileFormatError(file, 'safetensors header is not a JSON object');
  }
  const tensors = new Map<string, SafetensorsEntry>();
  const skipped: { name: string; dtype: string }[] = [];
  let metadata: Record<string, string> = {};
  const dataSize = src.size - dataStart;
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = readMetadata(raw);
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null) throw new FileFormatError(file, `${where}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') throw new FileFormatError(file, `${where}: dtype missing`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new FileFormatError(file, `${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      throw new FileFormatError(file, `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const elementBytes = ELEMENT_BYTES[dtype];
    if (!SUPPORTED.has(dtype)) {
      if (options.unsupported === 'skip') {
        skipped.push({ name, dtype });
        continue;
      }
      throw new CheckpointError(name, `dtype ${dtype} in ${file} is not supported`, 'F32, F16 or BF16', dtype);
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = elements * (elementBytes ?? 0);
    if (end - begin !== expected) {
      throw new FileFormatError(file, `${where}: data_offsets span ${end - begin} bytes but ${dtype}${JSON.stringify(shape)} needs ${expected}`);
    }
    if (end > dataSize) {
      throw new FileFormatError(file, `${where}: data ends at byte ${dataStart + end}, past the end of the file (${src.size} bytes): truncated or corrupt`);
    }
    tensors.set(name, { name, shape: shape as number[], dtype: dtype as TensorDtype, byteLength: expected, offset: dataStart + begin });
  }
  return {
    origin: file,
    tensors,
    metadata,
    skipped,
    read(name, signal) {
      const entry = tensors.get(name);
      if (!entry) return Promise.reject(new CheckpointError(name, `no such tensor in ${file}`));
      return src.read(entry.offset, entry.byteLength, signal);
    },
  };
}

function readMetadata(raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Several safetensors files as one set of tensors (sharded checkpoints); duplicate names reject. */
export async function openSafetensorsSet(sources: readonly ByteSource[], options: OpenSafetensorsOptions = {}): Promise<TensorSource> {
  const opened = await Promise.all(sources.map((s) => openSafetensors(s, options)));
  return mergeTensorSources(opened);
}

/** How a diffusers folder is reached: relative paths joined with `/` (URLs and Node paths alike). */
export interface DirectoryReader {
  readText(path: string, signal?: AbortSignal): Promise<string>;
  open(path: string, signal?: AbortSignal): Promise<ByteSource>;
}

/**
 * Opens the weights of one diffusers component folder (`transformer/`, `text_encoder_2/`, `vae/`):
 * `<name>.safetensors.index.json` with its shards when present, else the single `<name>.safetensors`,
 * for the two names diffusers and transformers use. Tensors are checked against the index's
 * weight_map so a shard that lacks what the index promises is caught at open.
 */
export async function openDiffusersShards(io: DirectoryReader, dir: string, options: OpenSafetensorsOptions = {}): Promise<TensorSource> {
  const base = dir === '' || dir.endsWith('/') ? dir : dir + '/';
  const names = ['diffusion_pytorch_model', 'model'];
  for (const stem of names) {
    const indexPath = `${base}${stem}.safetensors.index.json`;
    let text: string | null = null;
    try {
      text = await io.readText(indexPath, options.signal);
    } catch {
      // Absent index: the component is a single file (tried below).
      options.signal?.throwIfAborted();
    }
    if (text === null) continue;
    const weightMap = parseSafetensorsIndex(text, indexPath);
    const files = [...new Set(weightMap.values())];
    const sources = await Promise.all(files.map((f) => io.open(base + f, options.signal)));
    const merged = await openSafetensorsSet(sources, options);
    for (const [tensor, shard] of weightMap) {
      if (!merged.tensors.has(tensor)) throw new FileFormatError(base + shard, `tensor "${tensor}" listed in ${indexPath} is missing from the shard`);
    }
    return merged;
  }
  for (const stem of names) {
    let src: ByteSource;
    try {
      src = await io.open(`${base}${stem}.safetensors`, options.signal);
    } catch {
      options.signal?.throwIfAborted();
      continue;
    }
    return openSafetensors(src, options);
  }
  throw new FileFormatError(dir, `no weights found: looked for ${names.map((n) => `${n}.safetensors[.index.json]`).join(' and ')}`);
}

/** The `weight_map` of a `*.safetensors.index.json`: tensor name → shard file name. */
export function parseSafetensorsIndex(text: string, path: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(path, `not JSON (${(cause as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new FileFormatError(path, 'no "weight_map" object');
  const out = new Map<string, string>();
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.includes('..') || file.startsWith('/')) {
      throw new FileFormatError(path, `weight_map["${tensor}"] must be a shard file name beside the index, got ${JSON.stringify(file)}`);
    }
    out.set(tensor, file);
  }
  return out;
}
