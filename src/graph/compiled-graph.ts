import type { GpuContext } from '../gpu/device.js';
import { DisposedError, InvalidArgumentError } from '../errors.js';
import type { Dims3 } from '../shader/contract.js';
import type { GpuTensor } from '../tensor/tensor.js';

export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: Dims3;
}

/**
 * A forward pass planned once for one shape: pipelines, bind groups, uniforms and buffers are
 * fixed; `encode` only replays dispatches (no allocation), `setStep` writes the 16-byte step state.
 */
export class CompiledGraph {
  private disposed = false;
  private readonly stepData = new Uint32Array(4);

  constructor(
    private readonly ctx: GpuContext,
    readonly dispatches: readonly Dispatch[],
    readonly inputs: ReadonlyMap<string, GpuTensor>,
    readonly outputs: ReadonlyMap<string, GpuTensor>,
    readonly taps: ReadonlyMap<string, GpuTensor>,
    private readonly stepBuffer: GPUBuffer | null,
    private readonly owned: readonly GPUBuffer[],
  ) {}

  /** Bytes of the GPU buffers this graph owns (slots, inputs, outputs, constants, uniforms). */
  get bytes(): number {
    return this.owned.reduce((sum, buffer) => sum + buffer.size, 0);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The 16-byte step state this graph reads (null when no kernel is step-dependent). */
  get stepStateBuffer(): GPUBuffer | null {
    return this.stepBuffer;
  }

  input(name: string): GpuTensor {
    return lookup(this.inputs, name, 'input');
  }

  output(name: string): GpuTensor {
    return lookup(this.outputs, name, 'output');
  }

  /** Queues the step index for the next submit (the queue orders it before that submit's work). */
  setStep(step: number): void {
    this.assertLive();
    if (!this.stepBuffer) return;
    this.stepData[0] = step;
    this.ctx.device.queue.writeBuffer(this.stepBuffer, 0, this.stepData);
  }

  encode(pass: GPUComputePassEncoder): void {
    this.assertLive();
    let current: GPUComputePipeline | null = null;
    for (const d of this.dispatches) {
      if (d.pipeline !== current) {
        pass.setPipeline(d.pipeline);
        current = d.pipeline;
      }
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    }
  }

  /** Encodes dispatch `index` alone (profiling: one pass per dispatch). */
  encodeDispatch(pass: GPUComputePassEncoder, index: number): void {
    this.assertLive();
    const d = this.dispatches[index];
    if (!d) throw new InvalidArgumentError('dispatch index', `an integer in [0, ${this.dispatches.length - 1}]`, index);
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }

  /** Encodes the whole graph in one pass and submits it. */
  run(step = 0): void {
    this.ctx.assertUsable();
    this.setStep(step);
    const encoder = this.ctx.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.encode(pass);
    pass.end();
    this.ctx.device.queue.submit([encoder.finish()]);
  }

  private assertLive(): void {
    if (this.disposed) throw new DisposedError('CompiledGraph');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const buffer of this.owned) this.ctx.destroyBuffer(buffer);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function lookup(map: ReadonlyMap<string, GpuTensor>, name: string, what: string): GpuTensor {
  const t = map.get(name);
  if (!t) throw new InvalidArgumentError(`graph ${what} name`, `one of ${[...map.keys()].map((k) => JSON.stringify(k)).join(', ') || '(none)'}`, name);
  return t;
}
