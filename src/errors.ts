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

export class GpuOutOfMemoryError extends MmditError {
  constructor(readonly label: string, readonly bytes: number) {
    super('GPU_OUT_OF_MEMORY', `Out of GPU memory allocating ${bytes} bytes for "${label}".`);
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value);
  if (Array.isArray(value)) return `[${value.slice(0, 8).join(', ')}${value.length > 8 ? ', ...' : ''}]`;
  return String(value);
}
