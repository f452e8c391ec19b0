import { describe, expect, it } from 'vitest';
import * as errors from '../../src/errors.js';
import {
  CheckpointError,
  DeviceLostError,
  DisposedError,
  FileFormatError,
  GpuOutOfMemoryError,
  InvalidArgumentError,
  LimitExceededError,
  ManifestError,
  MmditError,
  FileAccessError,
  NonFiniteError,
  PipelineBusyError,
  ShaderCompilationError,
  WeightsMismatchError,
  ShardIntegrityError,
  WebGPUUnavailableError,
  deserializeError,
  errorClassOf,
  serializeError,
  type SerializedError,
} from '../../src/errors.js';

type ErrorClass = abstract new (...args: never[]) => MmditError;

/** One instance of every engine error, with every field it names set. */
const CASES: ReadonlyMap<ErrorClass, () => MmditError> = new Map<ErrorClass, () => MmditError>([
  [WebGPUUnavailableError, () => new WebGPUUnavailableError('no adapter', { cause: new TypeError('requestAdapter is not a function') })],
  [DeviceLostError, () => new DeviceLostError('destroyed', 'device.destroy() was called')],
  [LimitExceededError, () => new LimitExceededError('maxStorageBufferBindingSize', 268435456, 134217728, 'graph value "x" [4096, 16384]')],
  [GpuOutOfMemoryError, () => new GpuOutOfMemoryError('slot3', 71303168, { cause: 'Out of memory' })],
  [ShaderCompilationError, () => new ShaderCompilationError('matmul', 'matmul/f32/W_FORMAT=1', [{ file: 'shaders/matmul.wgsl', line: 61, text: "unresolved identifier 'y'" }])],
  [CheckpointError, () => new CheckpointError('joint_blocks.0.x_block.attn.qkv.weight', 'wrong shape', '[72, 24]', '[24, 72]')],
  [FileFormatError, () => new FileFormatError('model.safetensors', 'header length 9e18 exceeds the file')],
  [ManifestError, () => new ManifestError('weights.json', 'shards[1].sha256 is not 64 hex digits')],
  [ShardIntegrityError, () => new ShardIntegrityError('shard-00001.safetensors', 'ab'.repeat(32), 'cd'.repeat(32))],
  [InvalidArgumentError, () => new InvalidArgumentError('steps', 'an integer in [1, 1000]', new Float32Array([1.5, 2]))],
  [DisposedError, () => new DisposedError('Denoiser')],
  [PipelineBusyError, () => new PipelineBusyError(2)],
  [NonFiniteError, () => new NonFiniteError('input', 'noise', 17, 'NaN', 3, 1)],
  [FileAccessError, () => new FileAccessError('../../../etc/passwd', 'outside /work/vectors', 'resolved to /etc/passwd')],
  [WeightsMismatchError, () => new WeightsMismatchError('tiny.safetensors', 'mmdit depth 2, hidden 64', ['c1_sd3m: depth 2, hidden 24'])],
]);

const exported = (Object.values(errors) as unknown[]).filter(
  (v): v is ErrorClass => typeof v === 'function' && v.prototype instanceof MmditError,
);

/** Structured clone (postMessage) and JSON (logs) both keep a serialised error whole. */
function overTheWire(s: SerializedError): SerializedError {
  const cloned = structuredClone(s);
  expect(JSON.parse(JSON.stringify(cloned))).toEqual(cloned);
  return cloned;
}

function ownFields(e: Error): Record<string, unknown> {
  return Object.fromEntries(Object.keys(e).map((k) => [k, (e as unknown as Record<string, unknown>)[k]]));
}

describe('error serialisation', () => {
  it('has a case for every exported MmditError subclass, and every code is distinct', () => {
    const missing = exported.filter((c) => !CASES.has(c)).map((c) => c.name);
    expect(missing, 'add a case (and an ERROR_CLASSES entry) for each new error class').toEqual([]);
    const codes = [...CASES.values()].map((make) => make().code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  for (const [cls, make] of CASES) {
    it(`${cls.name} round-trips with its class, code, message, fields and cause`, () => {
      const original = make();
      const serialized = overTheWire(serializeError(original));
      expect(serialized.fields).not.toEqual({});
      const back = deserializeError(serialized);
      expect(back).toBeInstanceOf(cls);
      expect(back).toBeInstanceOf(MmditError);
      expect(errorClassOf(original.code)).toBe(cls);
      expect(back.name).toBe(cls.name);
      expect((back as MmditError).code).toBe(original.code);
      expect(back.message).toBe(original.message);
      expect(back.stack).toBe(original.stack);
      const expectedFields = ownFields(original);
      // Typed arrays arrive as arrays of their numbers.
      for (const [k, v] of Object.entries(expectedFields)) if (ArrayBuffer.isView(v)) expectedFields[k] = Array.from(v as Float32Array);
      expect(ownFields(back)).toEqual(expectedFields);
      if (original.cause instanceof Error) {
        expect(back.cause).toBeInstanceOf(original.cause.constructor);
        expect((back.cause as Error).message).toBe(original.cause.message);
      } else {
        expect(back.cause).toEqual(original.cause);
      }
    });
  }

  it('an AbortError (DOMException) round-trips as an AbortError DOMException', () => {
    const signal = AbortSignal.abort();
    const back = deserializeError(overTheWire(serializeError(signal.reason)));
    expect(back).toBeInstanceOf(DOMException);
    expect(back.name).toBe('AbortError');
    expect(back.message).toBe((signal.reason as DOMException).message);
    expect(deserializeError(serializeError(new DOMException('late', 'TimeoutError'))).name).toBe('TimeoutError');
  });

  it('built-in errors keep their class, other errors their name; thrown non-errors become an Error', () => {
    const range = deserializeError(overTheWire(serializeError(new RangeError('offset 9 is outside [0, 8)'))));
    expect(range).toBeInstanceOf(RangeError);
    expect(range.message).toBe('offset 9 is outside [0, 8)');
    const custom = new Error('403 Forbidden');
    custom.name = 'HttpStatusError';
    const back = deserializeError(overTheWire(serializeError(custom)));
    expect(back).toBeInstanceOf(Error);
    expect(back.name).toBe('HttpStatusError');
    expect(deserializeError(serializeError('plain string')).message).toBe('plain string');
    expect(deserializeError(serializeError({ status: 500 })).message).toBe('{"status":500}');
  });

  it('a chain of causes survives, engine errors inside built-ins and back', () => {
    const inner = new ShardIntegrityError('s.safetensors', '00'.repeat(32), '11'.repeat(32));
    const outer = new FileFormatError('model', 'load failed');
    Object.defineProperty(outer, 'cause', { value: new Error('while reading', { cause: inner }) });
    const back = deserializeError(overTheWire(serializeError(outer)));
    expect(back).toBeInstanceOf(FileFormatError);
    const mid = back.cause as Error;
    expect(mid.message).toBe('while reading');
    expect(mid.cause).toBeInstanceOf(ShardIntegrityError);
    expect((mid.cause as ShardIntegrityError).actualSha256).toBe('11'.repeat(32));
  });

  it('an unknown code (an error from a newer version) becomes an MmditError keeping code and fields', () => {
    const back = deserializeError({ name: 'FutureError', message: 'm', code: 'FUTURE', fields: { x: 1 } });
    expect(back).toBeInstanceOf(MmditError);
    expect((back as MmditError).code).toBe('FUTURE');
    expect((back as unknown as { x: number }).x).toBe(1);
  });
});
