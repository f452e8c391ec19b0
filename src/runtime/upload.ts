import type { GpuContext } from '../gpu/device.js';
import { CheckpointError, LimitExceededError } from '../errors.js';
import { alignUp, type GpuTensor, type StorageFormat, storageBytes } from '../tensor/tensor.js';
import { toFloat32 } from '../weights/decode.js';
import { bindFormat } from '../weights/format-rule.js';
import { DTYPE_FORMAT, type TensorInfo } from '../weights/tensor-source.js';
import { type StoredConfig, WeightMap } from './weight-map.js';

/**
 * The one uploader: every source of weights — a converted model's verified shards (HTTP, the
 * IndexedDB or directory cache, a local folder) or a checkpoint's tensors (safetensors, ONNX,
 * diffusers folders) — writes through it, and it alone creates weight buffers.
 *
 * Sources feed it pieces of tensors as stored (`write(name, 'data' | 'scales', offset, bytes)`,
 * any order, any piece size), so a shard can be written and dropped as soon as it arrives and a
 * tensor spanning shards is complete when its last piece lands. It applies the kernels' format
 * rule (weights/format-rule.ts: rank-1 tensors as f32, the rest as stored or, with `widenHalf`,
 * halves as f32, converting those f16/bf16 pieces on the way), gives every tensor its own buffer at offset 0 (bindable on
 * its own), and holds a tensor larger than `maxBufferSize` in row parts. `finish()` checks that
 * every byte of every tensor arrived and returns the WeightMap; `abort()` frees what was made.
 */

/** STORAGE | COPY_DST | COPY_SRC as the WebGPU spec numbers them (the global may be absent in tests). */
const WEIGHT_USAGE = 0x80 | 0x08 | 0x04;

/** Stored bytes converted at a time (f16/bf16 → f32). */
const CONVERT_STEP = 1024 * 1024;

interface Part {
  readonly tensor: GpuTensor;
  /** Byte range of the stored tensor (data, or scales) this part holds. */
  readonly start: number;
  readonly end: number;
}

interface Target {
  readonly info: TensorInfo;
  readonly stored: StorageFormat;
  readonly gpu: StorageFormat;
  readonly data: readonly Part[];
  /** Stored bytes of the scales (q8: f32 per row, q4: f16 per group of 32), 0 when none. */
  readonly scaleBytes: number;
  readonly scales: readonly Part[];
  written: number;
  scalesWritten: number;
}

export interface ComponentUploadOptions {
  /** Buffer usage of weight buffers (default STORAGE | COPY_DST | COPY_SRC). */
  readonly usage?: GPUBufferUsageFlags;
  /** Hold f16/bf16 tensors as f32 (BindFormatOptions.widenHalf). */
  readonly widenHalf?: boolean;
}

export interface UploadTarget {
  readonly ctx: GpuContext;
  /** Buffer usage of weight buffers (default STORAGE | COPY_DST | COPY_SRC). */
  readonly usage?: GPUBufferUsageFlags;
}

function scaleBytesOf(info: TensorInfo, format: StorageFormat): number {
  const rows = info.shape[0] ?? 1;
  const cols = info.shape.slice(1).reduce((p, d) => p * d, 1);
  return format === 'q8' ? rows * 4 : format === 'q4' ? rows * (cols / 32) * 2 : 0;
}

export class ComponentUpload {
  private readonly targets = new Map<string, Target>();
  private readonly made: GPUBuffer[] = [];
  private done = false;

  constructor(
    private readonly ctx: GpuContext,
    infos: Iterable<TensorInfo>,
    private readonly origin: string,
    private readonly options: ComponentUploadOptions = {},
  ) {
    try {
      for (const info of infos) this.targets.set(info.name, this.plan(info));
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  /** Bytes the sources must deliver (tensors and scales as stored). */
  get storedBytes(): number {
    let n = 0;
    for (const t of this.targets.values()) n += t.info.byteLength + t.scaleBytes;
    return n;
  }

  private plan(info: TensorInfo): Target {
    const stored = DTYPE_FORMAT[info.dtype];
    const gpu = bindFormat(info.name, info.shape, stored, { widenHalf: this.options.widenHalf === true });
    const bytes = storageBytes(info.shape, gpu);
    const caps = this.ctx.caps;
    const scaleBytes = scaleBytesOf(info, stored);
    let rowsPerPart = info.shape[0] ?? 1;
    if (bytes > caps.maxBufferSize) {
      // Row parts, each within both limits so each binds on its own (T5-XXL's token table).
      const rows = info.shape[0] ?? 1;
      const rowBytes = bytes / rows;
      const limit = Math.min(caps.maxBufferSize, caps.maxStorageBufferBindingSize);
      rowsPerPart = Math.floor(limit / rowBytes);
      if (gpu === 'q4') rowsPerPart -= rowsPerPart % 2; // q4 scale rows are 2-byte multiples: keep part starts 4-aligned
      if (info.shape.length < 2 || rowsPerPart < 1) {
        throw new LimitExceededError('maxBufferSize', bytes, caps.maxBufferSize, `weight "${info.name}" ${JSON.stringify(info.shape)}`);
      }
    }
    const rows = info.shape[0] ?? 1;
    const rowStored = info.shape.length >= 2 ? info.byteLength / rows : info.byteLength;
    const rowScales = rows > 0 ? scaleBytes / rows : 0;
    const data: Part[] = [];
    const scales: Part[] = [];
    const parted = rowsPerPart < rows;
    for (let first = 0; first < rows || (rows === 0 && first === 0); first += rowsPerPart) {
      const n = info.shape.length >= 2 ? Math.min(rowsPerPart, rows - first) : rows;
      const shape = info.shape.length >= 2 ? [n, ...info.shape.slice(1)] : info.shape;
      const suffix = parted ? `[${first}:${first + n}]` : '';
      const label = `${info.name}${suffix}`;
      const buffer = this.create(label, storageBytes(shape, gpu));
      let tensor: GpuTensor = { buffer, offset: 0, shape, format: gpu, label };
      if (scaleBytes > 0) {
        const scaleShape = gpu === 'q8' ? [n] : [n, info.shape.slice(1).reduce((p, d) => p * d, 1) / 32];
        const scaleBuffer = this.create(`${label}.scales`, n * rowScales);
        tensor = { ...tensor, scales: { buffer: scaleBuffer, offset: 0, shape: scaleShape, format: gpu === 'q8' ? 'f32' : 'f16', label: `${label}.scales` } };
        scales.push({ tensor: tensor.scales as GpuTensor, start: first * rowScales, end: (first + n) * rowScales });
      }
      const start = info.shape.length >= 2 ? first * rowStored : 0;
      data.push({ tensor, start, end: info.shape.length >= 2 ? (first + n) * rowStored : info.byteLength });
      if (info.shape.length < 2) break;
    }
    return { info, stored, gpu, data, scaleBytes, scales, written: 0, scalesWritten: 0 };
  }

  private create(label: string, bytes: number): GPUBuffer {
    const buffer = this.ctx.createBuffer(label, Math.max(4, alignUp(bytes, 4)), this.options.usage ?? WEIGHT_USAGE);
    this.made.push(buffer);
    return buffer;
  }

  /** Whether the upload plans tensor `name`. */
  has(name: string): boolean {
    return this.targets.has(name);
  }

  /**
   * Writes `bytes` at byte `offset` of tensor `name`'s stored data (or scales). Offsets and sizes
   * are those of the stored tensor; pieces must not overlap.
   */
  write(name: string, what: 'data' | 'scales', offset: number, bytes: Uint8Array): void {
    const t = this.targets.get(name);
    if (!t) throw new CheckpointError(name, `is not a tensor of ${this.origin}`);
    const total = what === 'data' ? t.info.byteLength : t.scaleBytes;
    if (offset < 0 || offset + bytes.byteLength > total) {
      throw new CheckpointError(name, `piece ${offset}+${bytes.byteLength} lies outside its ${total} stored ${what} bytes`);
    }
    const convert = what === 'data' && t.gpu !== t.stored;
    const parts = what === 'data' ? t.data : t.scales;
    for (const part of parts) {
      const from = Math.max(offset, part.start);
      const to = Math.min(offset + bytes.byteLength, part.end);
      if (to <= from) continue;
      let piece = bytes.subarray(from - offset, to - offset);
      let at = from - part.start;
      if (convert) {
        // f16/bf16 → f32 (format rule); elements are 2 bytes, pieces start on element bounds.
        if (at % 2 !== 0 || piece.byteLength % 2 !== 0) throw new CheckpointError(name, 'a piece splits a 2-byte element');
        // In 1 MiB steps: the f32 copies stay small whatever the piece (a load's JS memory is two shards and a little).
        for (let o = 0; o < piece.byteLength; o += CONVERT_STEP) {
          const f = toFloat32(piece.subarray(o, Math.min(piece.byteLength, o + CONVERT_STEP)), t.info.dtype, name);
          this.put(part.tensor.buffer, (at + o) * 2, new Uint8Array(f.buffer, f.byteOffset, f.byteLength), name);
        }
        continue;
      }
      this.put(part.tensor.buffer, at, piece, name);
    }
    if (what === 'data') t.written += bytes.byteLength;
    else t.scalesWritten += bytes.byteLength;
  }

  private put(buffer: GPUBuffer, at: number, bytes: Uint8Array, name: string): void {
    if (at % 4 !== 0) throw new CheckpointError(name, `a piece starts at byte ${at}, not a multiple of 4`);
    // writeBuffer needs 4-byte sizes: only a tensor's last piece can be ragged, and its buffer is rounded up.
    const body = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.ctx.write(buffer, at, body);
  }

  /** Checks completeness and returns the weights. */
  finish(storedConfig?: StoredConfig): WeightMap {
    for (const t of this.targets.values()) {
      if (t.written !== t.info.byteLength) {
        this.abort();
        throw new CheckpointError(t.info.name, `received ${t.written} of its ${t.info.byteLength} bytes from ${this.origin}`);
      }
      if (t.scalesWritten !== t.scaleBytes) {
        this.abort();
        throw new CheckpointError(t.info.name, `is ${t.stored} but received ${t.scalesWritten} of its ${t.scaleBytes} scale bytes from ${this.origin}`);
      }
    }
    this.done = true;
    const whole = new Map<string, GpuTensor>();
    const parted = new Map<string, GpuTensor[]>();
    const infos = new Map<string, TensorInfo>();
    for (const [name, t] of this.targets) {
      infos.set(name, t.info);
      if (t.data.length === 1) whole.set(name, (t.data[0] as Part).tensor);
      else parted.set(name, t.data.map((p) => p.tensor));
    }
    return new WeightMap(this.ctx, whole, parted, infos, this.origin, storedConfig);
  }

  /** Frees every buffer made so far (on failure or abort). */
  abort(): void {
    if (this.done) return;
    this.done = true;
    for (const buffer of this.made) this.ctx.destroyBuffer(buffer);
    this.made.length = 0;
  }
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(alignUp(bytes.byteLength, 4));
  out.set(bytes);
  return out;
}
