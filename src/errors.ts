/**
 * The engine's error hierarchy. Every failure the engine can foresee is one of these, raised
 * before GPU work starts where possible; messages say what failed, which thing, what is allowed
 * and what to do. `code` is stable for programs; messages are for people.
 */
export class MmditError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No WebGPU at all: no `navigator.gpu`, no adapter, or the `webgpu` package failed to load. */
export class WebGPUUnavailableError extends MmditError {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super(
      'WEBGPU_UNAVAILABLE',
      `WebGPU is not available: ${reason}. Use a browser with WebGPU enabled (Chrome/Edge 113+, ` +
        `Safari 26+, Firefox 141+ on Windows) or, in Node, install the "webgpu" package and a Vulkan ` +
        `driver (on Debian: apt-get install -y libvulkan1 chromium for SwiftShader).`,
      options,
    );
  }
}

/** The device was lost or hit an uncaptured error; the owner is unusable, create a new one. */
export class DeviceLostError extends MmditError {
  constructor(readonly reason: string, readonly detail: string) {
    super('DEVICE_LOST', `The GPU device was lost (${reason}): ${detail}. Create a new engine to continue.`);
  }
}

/** A request needs more than the device (or the engine's own cap) allows. */
export class LimitExceededError extends MmditError {
  constructor(readonly limit: string, readonly required: number, readonly available: number, what = '') {
    super(
      'LIMIT_EXCEEDED',
      `${what ? what + ': ' : ''}needs ${limit} = ${required}, but the device allows ${available}. ` +
        `Use a smaller size or a device with a higher ${limit}.`,
    );
  }
}

/** The device could not allocate a buffer (an out-of-memory error scope caught it). */
export class GpuOutOfMemoryError extends MmditError {
  constructor(readonly label: string, readonly bytes: number, options?: { cause?: unknown }) {
    super(
      'GPU_OUT_OF_MEMORY',
      `Out of GPU memory allocating ${bytes} bytes for "${label}". Dispose unused graphs or components, ` +
        `use a smaller image or batch, or f16/quantised weights.`,
      options,
    );
  }
}

export interface ShaderMessage {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

export class ShaderCompilationError extends MmditError {
  constructor(readonly kernel: string, readonly key: string, readonly messages: readonly ShaderMessage[]) {
    super(
      'SHADER_COMPILATION',
      `Kernel ${key} failed to compile:\n` + messages.map((m) => `  ${m.file}:${m.line}: ${m.text}`).join('\n'),
    );
  }
}

/** A checkpoint tensor is missing, unexpected, mis-shaped or of an unsupported dtype. */
export class CheckpointError extends MmditError {
  constructor(
    readonly key: string,
    readonly reason: string,
    readonly expected?: string,
    readonly actual?: string,
  ) {
    super(
      'CHECKPOINT',
      `Checkpoint tensor "${key}": ${reason}` +
        (expected !== undefined ? ` (expected ${expected}` + (actual !== undefined ? `, got ${actual})` : ')') : ''),
    );
  }
}

/** A file that is not what it claims to be (safetensors header, ONNX, vocabulary...). */
export class FileFormatError extends MmditError {
  constructor(readonly file: string, readonly reason: string) {
    super('FILE_FORMAT', `${file}: ${reason}`);
  }
}

export class ManifestError extends MmditError {
  constructor(readonly path: string, readonly reason: string) {
    super('MANIFEST', `Manifest ${path}: ${reason}`);
  }
}

export class ShardIntegrityError extends MmditError {
  constructor(readonly shard: string, readonly expectedSha256: string, readonly actualSha256: string) {
    super(
      'SHARD_INTEGRITY',
      `Shard ${shard} is corrupt: SHA-256 ${actualSha256}, expected ${expectedSha256}.`,
    );
  }
}

export class InvalidArgumentError extends MmditError {
  constructor(readonly parameter: string, readonly allowed: string, readonly received: unknown) {
    super('INVALID_ARGUMENT', `Invalid ${parameter}: allowed ${allowed}, received ${describe(received)}.`);
  }
}

export class DisposedError extends MmditError {
  constructor(readonly resource: string) {
    super('DISPOSED', `${resource} was disposed and cannot be used any more.`);
  }
}

/** A generate call refused because another is running or queued (busyPolicy "reject"). */
export class PipelineBusyError extends MmditError {
  constructor(readonly pending: number) {
    super('PIPELINE_BUSY', `The pipeline is busy (${pending} generation(s) running or queued) and its busyPolicy is "reject"; wait for them, or create it with busyPolicy "queue" or "abort-and-queue".`);
  }
}

/**
 * A NaN or an infinity where the engine needs finite numbers: an input written from the CPU
 * (checked before upload), or the latent after sampling (checked on the GPU before decoding).
 * `index` is the first bad element's flat index (-1 when only a count is known, as from the GPU
 * reduction), `step` the sampling step where known, `value` "NaN", "Infinity" or "-Infinity".
 */
export class NonFiniteError extends MmditError {
  constructor(
    readonly phase: string,
    readonly tensor: string,
    readonly index: number,
    readonly value: string,
    readonly step: number | null = null,
    readonly count: number | null = null,
  ) {
    super(
      'NON_FINITE',
      `${tensor} holds a non-finite value (${value}) ${index >= 0 ? `at index ${index}` : `in ${count ?? 'some'} element(s)`} ` +
        `(${phase}${step !== null ? `, step ${step}` : ''}); every value must be a finite number.` +
        (phase === 'input' ? ' Check the data written into it.' : ' The weights or the inputs produce NaN/Inf; check them, or try f32 precision.'),
    );
  }
}

/** What a user-given path failed to be. */
export type FileProblem = 'missing' | 'not a file' | 'not a directory' | 'not writable' | 'not readable' | 'not a valid path' | `outside ${string}`;

/**
 * A path given by the user (or named inside an index or manifest) that cannot be used as asked:
 * missing, of the wrong type, not writable, or resolving outside the folder it must stay in.
 * `expected` is that problem; `detail` the system's code (ENOENT, EACCES...) where there is one.
 */
export class FileAccessError extends MmditError {
  constructor(readonly path: string, readonly expected: FileProblem, readonly detail: string | null = null) {
    super('FILE_ACCESS', `${path}: ${fileProblemText(expected)}${detail ? ` (${detail})` : ''}.`);
  }
}

function fileProblemText(problem: FileProblem): string {
  switch (problem) {
    case 'missing':
      return 'no such file or folder';
    case 'not a file':
      return 'is not a file';
    case 'not a directory':
      return 'is not a folder (or sits under a file)';
    case 'not writable':
      return 'cannot be written';
    case 'not readable':
      return 'cannot be read';
    case 'not a valid path':
      return 'is not a usable path (too long, a symlink loop, or invalid characters)';
    default:
      return `resolves ${problem}, which it must stay inside`;
  }
}

/** `verify --weights` that fit none of the cases run: nothing would be verified with them. */
export class WeightsMismatchError extends MmditError {
  constructor(readonly weights: string, readonly weightsConfig: string, readonly caseConfigs: readonly string[]) {
    super(
      'WEIGHTS_MISMATCH',
      `--weights ${weights} fit none of the cases run: the weights are ${weightsConfig}; the cases' configurations are ` +
        `${caseConfigs.join('; ') || 'none'}. Pick vectors of the same architecture, or use --only.`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (Array.isArray(value)) return `[${value.slice(0, 8).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  return String(value);
}

/** A value that survives JSON and structured clone unchanged (non-finite numbers: structured clone only). */
export type PlainValue = null | boolean | number | string | readonly PlainValue[] | { readonly [key: string]: PlainValue };

/**
 * An error as a plain object, for crossing a worker boundary or a log file. `code` and `fields`
 * (the error's own properties, e.g. `limit`, `required`, `available`) are present for engine
 * errors; `dom` marks a DOMException (AbortError, TimeoutError, ...). A cause that is itself an
 * error is serialised the same way; any other cause is kept when it is a plain value.
 */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly fields?: { readonly [key: string]: PlainValue };
  readonly dom?: true;
  readonly stack?: string;
  readonly cause?: { readonly error: SerializedError } | { readonly value: PlainValue };
}

type MmditErrorClass = abstract new (...args: never[]) => MmditError;

/**
 * Every engine error class by its code. A new subclass must be added here: the error tests fail
 * for an exported subclass without an entry, and `deserializeError` would otherwise return a
 * plain MmditError for it.
 */
const ERROR_CLASSES: Readonly<Record<string, MmditErrorClass>> = {
  WEBGPU_UNAVAILABLE: WebGPUUnavailableError,
  DEVICE_LOST: DeviceLostError,
  LIMIT_EXCEEDED: LimitExceededError,
  GPU_OUT_OF_MEMORY: GpuOutOfMemoryError,
  SHADER_COMPILATION: ShaderCompilationError,
  CHECKPOINT: CheckpointError,
  FILE_FORMAT: FileFormatError,
  MANIFEST: ManifestError,
  SHARD_INTEGRITY: ShardIntegrityError,
  INVALID_ARGUMENT: InvalidArgumentError,
  DISPOSED: DisposedError,
  PIPELINE_BUSY: PipelineBusyError,
  NON_FINITE: NonFiniteError,
  FILE_ACCESS: FileAccessError,
  WEIGHTS_MISMATCH: WeightsMismatchError,
};

/** The class `deserializeError` rebuilds for a code (MmditError itself for an unknown code). */
export function errorClassOf(code: string): MmditErrorClass {
  return Object.hasOwn(ERROR_CLASSES, code) ? (ERROR_CLASSES[code] as MmditErrorClass) : MmditError;
}

/** Properties every Error has; the rest of an engine error's own properties are its fields. */
const STANDARD_KEYS = new Set(['name', 'message', 'code', 'stack', 'cause']);

const BUILTIN_ERRORS: Readonly<Record<string, new (message?: string) => Error>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/** `value` as a plain value: typed arrays become arrays, other objects their own enumerable fields. */
function toPlain(value: unknown, depth = 0): PlainValue | undefined {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value === 'bigint') return value.toString();
  if (depth > 8) return String(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
  }
  if (Array.isArray(value)) return value.map((v) => toPlain(v, depth + 1) ?? null);
  if (typeof value === 'object') {
    const out: Record<string, PlainValue> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = toPlain(v, depth + 1);
      if (p !== undefined) out[k] = p;
    }
    return out;
  }
  return String(value);
}

/** Any thrown value as a plain object (`deserializeError` turns it back into an error). */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error) && !isDomException(error)) {
    return { name: 'Error', message: typeof error === 'string' ? error : describeThrown(error) };
  }
  const e = error as Error;
  const out: {
    name: string;
    message: string;
    code?: string;
    fields?: Record<string, PlainValue>;
    dom?: true;
    stack?: string;
    cause?: { error: SerializedError } | { value: PlainValue };
  } = { name: e.name, message: e.message };
  if (error instanceof MmditError) {
    out.code = error.code;
    const fields: Record<string, PlainValue> = {};
    for (const key of Object.keys(error)) {
      if (STANDARD_KEYS.has(key)) continue;
      const p = toPlain((error as unknown as Record<string, unknown>)[key]);
      if (p !== undefined) fields[key] = p;
    }
    out.fields = fields;
  }
  if (isDomException(error)) out.dom = true;
  if (typeof e.stack === 'string') out.stack = e.stack;
  if ('cause' in e && e.cause !== undefined) {
    if (e.cause instanceof Error || isDomException(e.cause)) out.cause = { error: serializeError(e.cause) };
    else {
      const value = toPlain(e.cause);
      if (value !== undefined) out.cause = { value };
    }
  }
  return out;
}

/**
 * The error a `serializeError` result describes: the same engine class with the same code,
 * message and fields; a DOMException (an AbortError stays an AbortError) or a built-in error of
 * the same name; otherwise an Error carrying the name.
 */
export function deserializeError(serialized: SerializedError): Error {
  let error: Error;
  if (serialized.code !== undefined) {
    // Built without its constructor: the message and fields are the original's, whatever
    // arguments the constructor would have needed to produce them.
    const rebuilt = Object.create(errorClassOf(serialized.code).prototype) as Record<string, unknown>;
    define(rebuilt, 'message', serialized.message);
    rebuilt.name = serialized.name;
    rebuilt.code = serialized.code;
    for (const [key, value] of Object.entries(serialized.fields ?? {})) rebuilt[key] = value;
    error = rebuilt as unknown as Error;
  } else if (serialized.dom || serialized.name === 'AbortError') {
    error = new DOMException(serialized.message, serialized.name) as unknown as Error;
  } else {
    const Builtin = Object.hasOwn(BUILTIN_ERRORS, serialized.name) ? BUILTIN_ERRORS[serialized.name] : undefined;
    error = Builtin ? new Builtin(serialized.message) : new Error(serialized.message);
    if (!Builtin) error.name = serialized.name;
  }
  if (serialized.stack !== undefined) define(error, 'stack', serialized.stack);
  if (serialized.cause) {
    define(error, 'cause', 'error' in serialized.cause ? deserializeError(serialized.cause.error) : serialized.cause.value);
  }
  return error;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}

function isDomException(value: unknown): value is DOMException {
  return typeof DOMException !== 'undefined' && value instanceof DOMException;
}

function describeThrown(value: unknown): string {
  try {
    return typeof value === 'object' && value !== null ? JSON.stringify(toPlain(value)) : String(value);
  } catch {
    return String(value);
  }
}
