import * as onnxModule from 'onnx-proto';
import { CheckpointError, FileFormatError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import { decodeVarints, scanMessage, WindowReader, WIRE_LEN, WIRE_VARINT } from './protobuf-scan.js';
import type { TensorDtype, TensorInfo, TensorSource } from './tensor-source.js';

// A CommonJS package: depending on the loader, `onnx` is a named export or sits on the default one.
const onnx = onnxModule.onnx ?? (onnxModule as unknown as { default: typeof onnxModule }).default.onnx;

/**
 * ONNX initialisers as a TensorSource. Opening walks the protobuf structure (ModelProto.graph →
 * GraphProto.initializer) recording where each tensor's data lies, without reading it; `read`
 * then fetches one tensor: raw_data and external data by range, typed fields (float_data,
 * int32_data for FLOAT16/BFLOAT16) by decoding that one TensorProto with onnx-proto.
 */

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const T_DIMS = 1;
const T_DATA_TYPE = 2;
const T_SEGMENT = 3;
const T_NAME = 8;
const T_RAW_DATA = 9;
const T_EXTERNAL_DATA = 13;
const T_DATA_LOCATION = 14;
const LOCATION_EXTERNAL = 1;

const DTYPES: ReadonlyMap<number, { dtype: TensorDtype; bytes: number }> = new Map([
  [1, { dtype: 'F32', bytes: 4 }],
  [10, { dtype: 'F16', bytes: 2 }],
  [16, { dtype: 'BF16', bytes: 2 }],
]);

/** Reads `length` bytes at `offset` of an external data file named relative to the model. */
export type ExternalReader = (location: string, offset: number, length: number, signal?: AbortSignal) => Promise<Uint8Array>;

export interface OpenOnnxOptions {
  /** Needed when initialisers use external data (models over 2 GB); absent → CheckpointError on read. */
  readonly readExternal?: ExternalReader;
  readonly signal?: AbortSignal;
}

export interface OnnxTensorInfo extends TensorInfo {
  /** raw: bytes at `start` in the model; typed: decode the TensorProto at [start, end); external. */
  readonly storage:
    | { readonly kind: 'raw'; readonly start: number }
    | { readonly kind: 'typed'; readonly start: number; readonly end: number }
    | { readonly kind: 'external'; readonly location: string; readonly offset: number };
}

export interface OnnxSource extends TensorSource {
  readonly tensors: ReadonlyMap<string, OnnxTensorInfo>;
  /**
   * Initialisers of other element types, left out: ONNX graphs keep their integer constants
   * (Reshape shapes, indices) as initialisers, so these are expected and not weights.
   */
  readonly skipped: readonly { readonly name: string; readonly dataType: number }[];
}

export async function openOnnx(src: ByteSource, options: OpenOnnxOptions = {}): Promise<OnnxSource> {
  const reader = new WindowReader(src, options.signal);
  const graphs: [number, number][] = [];
  await scanMessage(reader, 0, src.size, (f) => {
    if (f.field === MODEL_GRAPH && f.wire === WIRE_LEN) graphs.push([f.start, f.end]);
  });
  if (graphs.length === 0) throw new FileFormatError(src.name, 'not an ONNX model: no graph found');
  const initializers: [number, number][] = [];
  for (const [start, end] of graphs) {
    await scanMessage(reader, start, end, (f) => {
      if (f.field === GRAPH_INITIALIZER && f.wire === WIRE_LEN) initializers.push([f.start, f.end]);
    });
  }
  const tensors = new Map<string, OnnxTensorInfo>();
  const skipped: { name: string; dataType: number }[] = [];
  for (const [start, end] of initializers) {
    const t = await scanTensor(reader, start, end);
    if (tensors.has(t.name)) throw new CheckpointError(t.name, `initialiser appears twice in ${src.name}`);
    const kind = DTYPES.get(t.dataType);
    if (!kind) {
      skipped.push({ name: t.name, dataType: t.dataType });
      continue;
    }
    tensors.set(t.name, describe(src.name, t, kind, start, end));
  }
  return {
    origin: src.name,
    tensors,
    skipped,
    read: (name, signal) => readTensor(src, tensors, name, options.readExternal, signal),
  };
}

interface ScannedTensor {
  name: string;
  dims: number[];
  dataType: number;
  raw: [number, number] | null;
  external: Map<string, string>;
  location: number;
  segmented: boolean;
}

async function scanTensor(reader: WindowReader, start: number, end: number): Promise<ScannedTensor> {
  const t: ScannedTensor = { name: '', dims: [], dataType: 0, raw: null, external: new Map(), location: 0, segmented: false };
  const file = reader.src.name;
  const text = new TextDecoder();
  await scanMessage(reader, start, end, async (f) => {
    if (f.field === T_DIMS) {
      t.dims.push(...(f.wire === WIRE_VARINT ? [f.value] : decodeVarints(await reader.bytes(f.start, f.end), file)));
    } else if (f.field === T_DATA_TYPE && f.wire === WIRE_VARINT) t.dataType = f.value;
    else if (f.field === T_NAME && f.wire === WIRE_LEN) t.name = text.decode(await reader.bytes(f.start, f.end));
    else if (f.field === T_RAW_DATA && f.wire === WIRE_LEN) t.raw = [f.start, f.end];
    else if (f.field === T_DATA_LOCATION && f.wire === WIRE_VARINT) t.location = f.value;
    else if (f.field === T_SEGMENT) t.segmented = true;
    else if (f.field === T_EXTERNAL_DATA && f.wire === WIRE_LEN) {
      const bytes = await reader.bytes(f.start, f.end);
      const entry = decodeProto(file, `external_data entry at byte ${f.start}`, () => onnx.StringStringEntryProto.decode(bytes));
      t.external.set(entry.key, entry.value);
    }
  });
  return t;
}

function describe(file: string, t: ScannedTensor, kind: { dtype: TensorDtype; bytes: number }, start: number, end: number): OnnxTensorInfo {
  const name = t.name || `initializer@${start}`;
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FileFormatError(file, `initialiser "${name}": invalid dims ${JSON.stringify(t.dims)}`);
  }
  if (t.segmented) throw new CheckpointError(name, `segmented initialisers in ${file} are not supported`);
  const byteLength = t.dims.reduce((a, b) => a * b, 1) * kind.bytes;
  const base = { name, shape: t.dims, dtype: kind.dtype, byteLength };
  if (t.location === LOCATION_EXTERNAL) {
    const location = t.external.get('location');
    if (location === undefined || location === '' || location.startsWith('/') || location.split(/[\\/]/).includes('..') || /^[a-z]+:/i.test(location)) {
      throw new FileFormatError(file, `initialiser "${name}": external data location ${JSON.stringify(location)} must be a relative path beside the model`);
    }
    const offset = Number(t.external.get('offset') ?? 0);
    const length = Number(t.external.get('length') ?? byteLength);
    if (!Number.isSafeInteger(offset) || offset < 0 || length !== byteLength) {
      throw new FileFormatError(file, `initialiser "${name}": external data offset ${t.external.get('offset')} / length ${length} disagree with ${kind.dtype}${JSON.stringify(t.dims)} (${byteLength} bytes)`);
    }
    return { ...base, storage: { kind: 'external', location, offset } };
  }
  if (t.raw) {
    if (t.raw[1] - t.raw[0] !== byteLength) {
      throw new FileFormatError(file, `initialiser "${name}": raw_data has ${t.raw[1] - t.raw[0]} bytes but ${kind.dtype}${JSON.stringify(t.dims)} needs ${byteLength}`);
    }
    return { ...base, storage: { kind: 'raw', start: t.raw[0] } };
  }
  return { ...base, storage: { kind: 'typed', start, end } };
}

async function readTensor(
  src: ByteSource,
  tensors: ReadonlyMap<string, OnnxTensorInfo>,
  name: string,
  readExternal: ExternalReader | undefined,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  const info = tensors.get(name);
  if (!info) throw new CheckpointError(name, `no such initialiser in ${src.name}`);
  const storage = info.storage;
  if (storage.kind === 'raw') return src.read(storage.start, info.byteLength, signal);
  if (storage.kind === 'external') {
    if (!readExternal) throw new CheckpointError(name, `its data is in the external file "${storage.location}" and no readExternal was given for ${src.name}`);
    const bytes = await readExternal(storage.location, storage.offset, info.byteLength, signal);
    if (bytes.byteLength !== info.byteLength) {
      throw new FileFormatError(storage.location, `external data of "${name}": ${bytes.byteLength} bytes read, expected ${info.byteLength}`);
    }
    return bytes;
  }
  const bytes = await src.read(storage.start, storage.end - storage.start, signal);
  const proto = decodeProto(src.name, `initialiser "${name}"`, () => onnx.TensorProto.decode(bytes));
  return typedBytes(src.name, info, proto);
}

/** onnx-proto throws plain Errors (or RangeErrors) on malformed bytes; they become FileFormatErrors. */
function decodeProto<T>(file: string, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (cause) {
    throw new FileFormatError(file, `${what} is not a valid protobuf message (${(cause as Error).message}): truncated or corrupt`);
  }
}

/** Little-endian element bytes from the typed repeated fields of a TensorProto. */
function typedBytes(file: string, info: OnnxTensorInfo, proto: InstanceType<typeof onnx.TensorProto>): Uint8Array {
  const count = info.byteLength / (info.dtype === 'F32' ? 4 : 2);
  // Counts are checked before the output is allocated: dims are untrusted and may claim terabytes.
  if (info.dtype === 'F32') {
    if (proto.floatData.length !== count) throw countError(file, info, 'float_data', proto.floatData.length, count);
    const out = new Uint8Array(info.byteLength);
    const view = new DataView(out.buffer);
    proto.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return out;
  }
  // FLOAT16 and BFLOAT16 keep one 16-bit pattern per int32_data entry (onnx.proto's rule).
  if (proto.int32Data.length !== count) throw countError(file, info, 'int32_data', proto.int32Data.length, count);
  const out = new Uint8Array(info.byteLength);
  const view = new DataView(out.buffer);
  proto.int32Data.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
  return out;
}

function countError(file: string, info: OnnxTensorInfo, field: string, got: number, want: number): FileFormatError {
  return new FileFormatError(file, `initialiser "${info.name}": ${field} holds ${got} values but ${info.dtype}${JSON.stringify(info.shape)} needs ${want}`);
}
