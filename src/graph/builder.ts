import type { DeviceCaps } from '../gpu/features.js';
import { InvalidArgumentError } from '../errors.js';
import type { KernelSpec, Precision } from '../shader/contract.js';
import { elementCount, type GpuTensor } from '../tensor/tensor.js';

/**
 * Element type of a graph value. `act` follows the graph's precision (f32 or f16); `f32` and `u32`
 * are fixed (latents, sigmas, timestep tables, ids and indices stay exact in every precision).
 */
export type ValueType = 'act' | 'f32' | 'u32';

export type ValueKind = 'temp' | 'input' | 'output' | 'constant' | 'step';

/** A symbolic tensor of a graph being recorded; it gets a buffer only when the graph compiles. */
export interface Value {
  readonly id: number;
  readonly shape: readonly number[];
  readonly type: ValueType;
  readonly label: string;
  kind: ValueKind;
}

/** What a binding of a recorded dispatch refers to: a graph value, a weight, or nothing (zero buffer). */
export type Operand = Value | GpuTensor | null;

export interface RecordedOp {
  readonly spec: KernelSpec<unknown>;
  readonly args: unknown;
  readonly bindings: readonly Operand[];
  readonly label: string;
}

export function isValue(operand: Operand): operand is Value {
  return operand !== null && 'id' in operand && 'kind' in operand;
}

/**
 * Records a forward pass as dispatches over symbolic values. Models call the op helpers of
 * `src/kernels/*` with a builder; nothing touches the GPU until `compileGraph`.
 */
export class GraphBuilder {
  readonly ops: RecordedOp[] = [];
  readonly values: Value[] = [];
  readonly inputs = new Map<string, Value>();
  readonly outputs = new Map<string, Value>();
  readonly taps = new Map<string, Value>();
  readonly constants = new Map<Value, ArrayBufferView>();
  private step: Value | null = null;

  constructor(
    readonly caps: DeviceCaps,
    readonly precision: Precision,
    /** Keep named intermediates (`tap`) in their own buffers so they can be read after a run. */
    readonly keepTaps = false,
  ) {}

  private make(shape: readonly number[], type: ValueType, label: string, kind: ValueKind): Value {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 1) throw new InvalidArgumentError(`shape of ${label}`, 'positive integer dimensions', shape);
    }
    const value: Value = { id: this.values.length, shape: [...shape], type, label, kind };
    this.values.push(value);
    return value;
  }

  /** A new intermediate; its buffer is shared with others whose lifetimes do not overlap. */
  temp(shape: readonly number[], label: string, type: ValueType = 'act'): Value {
    return this.make(shape, type, label, 'temp');
  }

  /** A named input the caller fills before running (its own buffer, never shared). */
  input(name: string, shape: readonly number[], type: ValueType = 'act'): Value {
    if (this.inputs.has(name)) throw new InvalidArgumentError('graph input', 'a new name', name);
    const value = this.make(shape, type, name, 'input');
    this.inputs.set(name, value);
    return value;
  }

  /** Data fixed for the compiled graph's life (token ids, position crops, bucket tables). */
  constant(name: string, shape: readonly number[], type: ValueType, data: ArrayBufferView): Value {
    const value = this.make(shape, type, name, 'constant');
    this.constants.set(value, data);
    return value;
  }

  /** The per-step uniform-like state `{step: u32}` read by step-dependent kernels. */
  stepState(): Value {
    this.step ??= this.make([4], 'u32', 'step', 'step');
    return this.step;
  }

  /** Marks `value` as a named output: it keeps its own buffer and is readable after a run. */
  output(name: string, value: Value): Value {
    if (value.kind === 'temp') value.kind = 'output';
    this.outputs.set(name, value);
    return value;
  }

  /** Names an intermediate for debugging and tests; free unless the builder keeps taps. */
  tap(name: string, value: Value): Value {
    if (this.keepTaps) {
      if (value.kind === 'temp') value.kind = 'output';
      this.taps.set(name, value);
    }
    return value;
  }

  dispatch<Args>(spec: KernelSpec<Args>, args: Args, bindings: readonly Operand[], label = spec.name): void {
    if (bindings.length !== spec.bindings.length) {
      throw new InvalidArgumentError(`${spec.name} bindings`, `${spec.bindings.length} operands`, bindings.length);
    }
    this.ops.push({ spec: spec as KernelSpec<unknown>, args, bindings, label });
  }
}

export function valueBytes(value: Value, precision: Precision): number {
  const size = value.type === 'act' && precision === 'f16' ? 2 : 4;
  return Math.ceil((elementCount(value.shape) * size) / 4) * 4;
}
