import type { GpuContext } from '../gpu/device.js';
import { Runtime } from '../runtime/runtime.js';
import type { VerifyGpu } from './verify.js';

const runtimes = new WeakMap<GpuContext, Runtime>();

/** The runtime verify's runners load components onto: one per device, sharing its pipeline cache. */
export function runtimeOf(gpu: VerifyGpu): Runtime {
  let rt = runtimes.get(gpu.ctx);
  if (!rt) {
    rt = new Runtime(gpu.ctx, { pipelines: gpu.cache });
    runtimes.set(gpu.ctx, rt);
  }
  return rt;
}
