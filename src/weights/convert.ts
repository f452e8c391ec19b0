import { CheckpointError, InvalidArgumentError } from '../errors.js';
import { alignUp, BINDING_ALIGNMENT, type StorageFormat } from '../tensor/tensor.js';
import { toFloat32 } from './decode.js';
import {
  COMPONENTS,
  MANIFEST_FORMAT,
  type ComponentManifest,
  type ComponentName,
  type JsonValue,
  type ModelManifest,
  type StreamRange,
  type TensorEntry,
  type TensorPart,
  type WeightsVariant,
} from './manifest.js';
import { decodeAs, encodeAs, fitsFormat, matrixDims, relativeL2 } from './quantize.js';
import { DEFAULT_QUANT_RULE_TEXT, defaultQuantRule, type QuantRule } from './quant-rule.js';
import { ShardWriter, type WriteFile } from './shard-writer.js';
import type { TensorInfo, TensorSource } from './tensor-source.js';

/**
 * Checkpoint → shards + manifest, tensor by tensor. Each component becomes one logical stream of
 * 256-byte-aligned tensors cut into fixed-size shards (DESIGN §9); at any time memory holds one
 * shard and one tensor (in f32 while it is quantised), never the checkpoint.
 */

export interface ConvertOptions {
  readonly model: string;
  readonly kind?: string;
  readonly license?: string;
  /** One source per component, e.g. from openSafetensors / openOnnx / openDiffusersShards. */
  readonly inputs: { readonly [C in ComponentName]?: TensorSource };
  readonly quant: WeightsVariant;
  /** Per component: rename / re-layout into canonical names (the models' keys.ts). */
  readonly canonicalize?: { readonly [C in ComponentName]?: (src: TensorSource) => TensorSource | Promise<TensorSource> };
  /** Per component model configuration, written into the manifest. */
  readonly configs?: { readonly [C in ComponentName]?: { readonly [key: string]: JsonValue } };
  readonly tokenizers?: ModelManifest['tokenizers'];
  /** Which tensors int8/int4 quantise; defaults to the rule of quant-rule.ts. */
  readonly quantizable?: QuantRule;
  /** Text for `quantization.rule` when a custom `quantizable` is given. */
  readonly quantRuleText?: string;
  /** Shard size (default 64 MiB). */
  readonly shardBytes?: number;
  /** Tensors above this are stored in row parts (default 128 MiB, the default binding limit). */
  readonly partBytes?: number;
  /** Receives each shard and, last, `manifest.json`. */
  readonly write: WriteFile;
  readonly manifestFile?: string;
  readonly onTensor?: (report: TensorReport) => void;
  readonly signal?: AbortSignal;
}

export interface TensorReport {
  readonly component: ComponentName;
  readonly name: string;
  readonly shape: readonly number[];
  readonly from: TensorInfo['dtype'];
  readonly format: StorageFormat;
  /** Relative L2 of the stored values against the input values (0 when copied unchanged). */
  readonly relL2: number;
  readonly bytes: number;
}

export interface ConvertResult {
  readonly manifest: ModelManifest;
  readonly report: readonly TensorReport[];
  /** Total bytes of all shards. */
  readonly bytes: number;
}

export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;
export const DEFAULT_PART_BYTES = 128 * 1024 * 1024;
const F16_MAX = 65504;

const SCHEMES: Readonly<Record<WeightsVariant, string | null>> = {
  f32: null,
  f16: null,
  int8: 'q8: symmetric per output row, f32 scale max|w|/127, q = round(w/scale) (ties to even) in [-127, 127]',
  int4: 'q4: symmetric groups of 32 along K, f16 scale f16(max|w|/7) rounded before dividing, q = clamp(round(w/scale), -8, 7) stored q+8, low nibble first',
};

export async function convert(options: ConvertOptions): Promise<ConvertResult> {
  if (!(['f32', 'f16', 'int8', 'int4'] as const).includes(options.quant)) {
    throw new InvalidArgumentError('quant', 'f32, f16, int8 or int4', options.quant);
  }
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes < BINDING_ALIGNMENT || shardBytes % BINDING_ALIGNMENT !== 0) {
    throw new InvalidArgumentError('shardBytes', `a positive multiple of ${BINDING_ALIGNMENT}`, shardBytes);
  }
  const components: { [C in ComponentName]?: ComponentManifest } = {};
  const report: TensorReport[] = [];
  let total = 0;
  for (const component of COMPONENTS) {
    const input = options.inputs[component];
    if (!input) continue;
    const canonical = options.canonicalize?.[component];
    const source = canonical ? await canonical(input) : input;
    const writer = new ShardWriter(component, shardBytes, options.write);
    const tensors: Record<string, TensorEntry> = {};
    for (const info of source.tensors.values()) {
      options.signal?.throwIfAborted();
      const { entry, tensorReport } = await convertTensor(source, info, component, options, writer);
      tensors[info.name] = entry;
      report.push(tensorReport);
      options.onTensor?.(tensorReport);
    }
    const shards = await writer.finish();
    total += writer.position;
    components[component] = { config: options.configs?.[component] ?? {}, shards, tensors };
  }
  const scheme = SCHEMES[options.quant];
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    model: options.model,
    ...(options.kind !== undefined ? { kind: options.kind } : {}),
    variant: options.quant,
    ...(options.license !== undefined ? { license: options.license } : {}),
    tokenizers: options.tokenizers ?? {},
    ...(scheme ? { quantization: { scheme, rule: options.quantizable ? (options.quantRuleText ?? 'custom rule') : DEFAULT_QUANT_RULE_TEXT } } : {}),
    components,
  };
  await options.write(options.manifestFile ?? 'manifest.json', new TextEncoder().encode(JSON.stringify(manifest, null, 1) + '\n'));
  return { manifest, report, bytes: total };
}

/** The stored format of one tensor under a variant (see DESIGN §9 and quant-rule.ts). */
export function chooseFormat(info: TensorInfo, component: ComponentName, quant: WeightsVariant, rule: QuantRule): StorageFormat {
  if (info.dtype === 'Q8' || info.dtype === 'Q4') return info.dtype === 'Q8' ? 'q8' : 'q4';
  // Rank-1 tensors are stored as the kernels bind them (format-rule.ts): loading stays a copy.
  if (quant === 'f32' || info.shape.length <= 1) return 'f32';
  const q = quant === 'int8' ? 'q8' : quant === 'int4' ? 'q4' : null;
  if (q && rule(info.name, info.shape, component) && fitsFormat(info.shape, q)) return q;
  // BF16 keeps its own format (it decodes exactly in the kernels); f16 would lose its range.
  if (info.dtype === 'BF16') return fitsFormat(info.shape, 'bf16') ? 'bf16' : 'f32';
  // An odd K cannot be read as f16 pairs; such tensors (e.g. a 3-channel conv_in) are tiny, keep f32.
  return fitsFormat(info.shape, 'f16') ? 'f16' : 'f32';
}

async function convertTensor(
  source: TensorSource,
  info: TensorInfo,
  component: ComponentName,
  options: ConvertOptions,
  writer: ShardWriter,
): Promise<{ entry: TensorEntry; tensorReport: TensorReport }> {
  let format = chooseFormat(info, component, options.quant, options.quantizable ?? defaultQuantRule);
  const raw = await source.read(info.name, options.signal);
  if (raw.byteLength !== info.byteLength) {
    throw new CheckpointError(info.name, `read ${raw.byteLength} bytes from ${source.origin}`, String(info.byteLength), String(raw.byteLength));
  }
  let data: Uint8Array;
  let scales: Uint8Array | undefined;
  let relL2 = 0;
  const copied = (format === 'f32' && info.dtype === 'F32') || (format === 'f16' && info.dtype === 'F16') || (format === 'bf16' && info.dtype === 'BF16');
  if (copied) {
    data = raw;
  } else if (format === 'q8' || format === 'q4') {
    if (info.dtype === 'Q8' || info.dtype === 'Q4') {
      data = raw;
      scales = await readScales(source, info, options.signal);
    } else {
      const values = toFloat32(raw, info.dtype, info.name);
      ({ data, scales } = encodeAs(values, info.shape, format, info.name));
      relL2 = relativeL2(values, decodeAs(data, scales, info.shape, format));
    }
  } else {
    const values = toFloat32(raw, info.dtype, info.name);
    // Weights beyond the f16 range would become infinities: such a tensor stays f32.
    if (format === 'f16' && values.some((x) => Math.abs(x) > F16_MAX)) format = 'f32';
    data = encodeAs(values, info.shape, format, info.name).data;
    if (format !== 'f32') relL2 = relativeL2(values, decodeAs(data, undefined, info.shape, format));
  }
  const entry = await place(writer, info, format, data, scales, options.partBytes ?? DEFAULT_PART_BYTES);
  return { entry, tensorReport: { component, name: info.name, shape: info.shape, from: info.dtype, format, relL2, bytes: data.byteLength + (scales?.byteLength ?? 0) } };
}

async function readScales(source: TensorSource, info: TensorInfo, signal: AbortSignal | undefined): Promise<Uint8Array> {
  if (!source.readScales) throw new CheckpointError(info.name, `is ${info.dtype} but ${source.origin} provides no scales`);
  return source.readScales(info.name, signal);
}

/** Appends data (and scales) at aligned offsets, cutting oversize tensors into row parts. */
async function place(
  writer: ShardWriter,
  info: TensorInfo,
  format: StorageFormat,
  data: Uint8Array,
  scales: Uint8Array | undefined,
  partBytes: number,
): Promise<TensorEntry> {
  const [rows] = matrixDims(info.shape);
  if (data.byteLength <= partBytes || rows < 2) {
    const range = await appendAligned(writer, data);
    const scaleRange = scales ? await appendAligned(writer, scales) : undefined;
    return { ...range, shape: info.shape, format, ...(scaleRange ? { scales: scaleRange } : {}) };
  }
  const rowBytes = data.byteLength / rows;
  const scaleRowBytes = scales ? scales.byteLength / rows : 0;
  const rowsPerPart = Math.max(1, Math.floor(partBytes / rowBytes));
  const parts: TensorPart[] = [];
  for (let first = 0; first < rows; first += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - first);
    const range = await appendAligned(writer, data.subarray(first * rowBytes, (first + n) * rowBytes));
    const scaleRange = scales ? await appendAligned(writer, scales.subarray(first * scaleRowBytes, (first + n) * scaleRowBytes)) : undefined;
    parts.push({ rows: n, ...range, ...(scaleRange ? { scales: scaleRange } : {}) });
  }
  return { offset: parts[0]?.offset ?? 0, bytes: data.byteLength, shape: info.shape, format, parts };
}

async function appendAligned(writer: ShardWriter, bytes: Uint8Array): Promise<StreamRange> {
  const offset = alignUp(writer.position, BINDING_ALIGNMENT);
  await writer.padTo(offset);
  await writer.append(bytes);
  return { offset, bytes: bytes.byteLength };
}
