import { FileFormatError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

/**
 * A forward-only walker over protobuf wire format read through a ByteSource window. It finds
 * where fields are without reading their payloads, so an ONNX model's multi-gigabyte raw_data
 * fields are skipped at open and read later by range, one tensor at a time. Decoding a whole
 * ModelProto instead would need the file in memory at once (and protobuf messages reach 2 GB).
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  /** Varint value (wire 0); for other wire types 0. Exact below 2^53, which every size and dim is. */
  readonly value: number;
  /** Byte range of the payload: the bytes of a LEN field, or the 4/8 bytes of a fixed field. */
  readonly start: number;
  readonly end: number;
}

/** Buffered sequential access: small reads are served from one window of `chunk` bytes. */
export class WindowReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(
    readonly src: ByteSource,
    private readonly signal?: AbortSignal,
    private readonly chunk = 1 << 20,
  ) {}

  /** The bytes [start, end), copied only when they straddle a window boundary. */
  async bytes(start: number, end: number): Promise<Uint8Array> {
    if (end > this.src.size) throw new FileFormatError(this.src.name, `protobuf field runs past the end of the file (byte ${end} of ${this.src.size}): truncated`);
    if (start >= this.windowStart && end <= this.windowStart + this.window.byteLength) {
      return this.window.subarray(start - this.windowStart, end - this.windowStart);
    }
    if (end - start > this.chunk) return this.src.read(start, end - start, this.signal);
    this.windowStart = start;
    this.window = await this.src.read(start, Math.min(this.chunk, this.src.size - start), this.signal);
    return this.window.subarray(0, end - start);
  }

  /** A varint at `pos`: its value and the position after it. */
  async varint(pos: number, limit: number): Promise<[number, number]> {
    const head = await this.bytes(pos, Math.min(pos + 10, limit));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < head.byteLength; i++) {
      const b = head[i] ?? 0;
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return [value, pos + i + 1];
    }
    throw new FileFormatError(this.src.name, `malformed protobuf varint at byte ${pos}`);
  }
}

/** Visits the fields of the message occupying [start, end), in file order. */
export async function scanMessage(
  reader: WindowReader,
  start: number,
  end: number,
  visit: (f: ProtoField) => void | Promise<void>,
): Promise<void> {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = await reader.varint(pos, end);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value = 0;
    let payloadStart = afterTag;
    let payloadEnd: number;
    switch (wire) {
      case WIRE_VARINT:
        [value, payloadEnd] = await reader.varint(afterTag, end);
        payloadStart = payloadEnd;
        break;
      case WIRE_I64:
        payloadEnd = afterTag + 8;
        break;
      case WIRE_I32:
        payloadEnd = afterTag + 4;
        break;
      case WIRE_LEN: {
        const [length, afterLength] = await reader.varint(afterTag, end);
        payloadStart = afterLength;
        payloadEnd = afterLength + length;
        break;
      }
      default:
        throw new FileFormatError(reader.src.name, `unsupported protobuf wire type ${wire} (field ${field}) at byte ${pos}`);
    }
    if (field === 0 || payloadEnd > end) {
      throw new FileFormatError(reader.src.name, `malformed protobuf field ${field} at byte ${pos}: runs past its message (byte ${payloadEnd} > ${end}), truncated or not protobuf`);
    }
    await visit({ field, wire, value, start: payloadStart, end: payloadEnd });
    pos = payloadEnd;
  }
}

/** Decodes a packed or single varint field's values from its payload bytes. */
export function decodeVarints(bytes: Uint8Array, file: string): number[] {
  const out: number[] = [];
  let value = 0;
  let scale = 1;
  for (const b of bytes) {
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      out.push(value);
      value = 0;
      scale = 1;
    }
  }
  if (scale !== 1) throw new FileFormatError(file, 'malformed packed varints');
  return out;
}
