import type { CompiledGraph } from '../graph/compiled-graph.js';
import type { GpuContext } from '../gpu/device.js';

export interface KernelTiming {
  /** The dispatch's label (kernel and weight or value names). */
  readonly label: string;
  readonly ms: number;
  /** 'gpu' from timestamp queries; 'cpu' from submit-to-done wall time per dispatch. */
  readonly source: 'gpu' | 'cpu';
}

/**
 * Per-dispatch timings of a compiled graph. With `timestamp-query` every dispatch runs in its own
 * pass with timestamp writes; without it each dispatch is submitted alone and timed on the CPU
 * (coarser: it includes submission overhead, so use it for relative costs only).
 */
export class Profiler {
  constructor(private readonly ctx: GpuContext) {}

  async profile(graph: CompiledGraph, step = 0): Promise<KernelTiming[]> {
    graph.setStep(step);
    return this.ctx.caps.timestampQuery ? this.gpuTimes(graph) : this.cpuTimes(graph);
  }

  private async gpuTimes(graph: CompiledGraph): Promise<KernelTiming[]> {
    const device = this.ctx.device;
    const count = graph.dispatches.length;
    const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count });
    const resolve = this.ctx.createBuffer('timestamps', 16 * count, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    try {
      const encoder = device.createCommandEncoder({ label: 'profile' });
      for (let i = 0; i < count; i++) {
        const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        graph.encodeDispatch(pass, i);
        pass.end();
      }
      encoder.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
      device.queue.submit([encoder.finish()]);
      const stamps = new BigUint64Array(await this.ctx.read(resolve, 0, 16 * count));
      return graph.dispatches.map((d, i) => ({
        label: d.label,
        ms: Number((stamps[2 * i + 1] ?? 0n) - (stamps[2 * i] ?? 0n)) / 1e6,
        source: 'gpu' as const,
      }));
    } finally {
      querySet.destroy();
      this.ctx.destroyBuffer(resolve);
    }
  }

  private async cpuTimes(graph: CompiledGraph): Promise<KernelTiming[]> {
    const device = this.ctx.device;
    const out: KernelTiming[] = [];
    for (let i = 0; i < graph.dispatches.length; i++) {
      const start = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      graph.encodeDispatch(pass, i);
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      out.push({ label: graph.dispatches[i]!.label, ms: performance.now() - start, source: 'cpu' });
    }
    return out;
  }

  /** Sums timings by kernel name (the label's first word), largest first. */
  static byKernel(timings: readonly KernelTiming[]): { kernel: string; ms: number; count: number }[] {
    const sums = new Map<string, { ms: number; count: number }>();
    for (const t of timings) {
      const kernel = t.label.split(' ')[0] ?? t.label;
      const s = sums.get(kernel) ?? { ms: 0, count: 0 };
      s.ms += t.ms;
      s.count += 1;
      sums.set(kernel, s);
    }
    return [...sums].map(([kernel, s]) => ({ kernel, ...s })).sort((a, b) => b.ms - a.ms);
  }
}
