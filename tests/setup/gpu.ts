import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { GpuContext } from '../../src/gpu/device.js';
import type { EngineLimits } from '../../src/gpu/limits.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';
import { createNodeGpu, type NodeGpu } from '../../src/node/dawn.js';
import { Runtime } from '../../src/runtime/runtime.js';

export interface TestGpu {
  readonly ctx: GpuContext;
  readonly cache: PipelineCache;
  /** The runtime components load onto (sharing `cache`). */
  readonly rt: Runtime;
}

let nodeGpu: NodeGpu | null = null;
let shared: Promise<TestGpu> | null = null;
const pid = process.pid;

function log(line: string): void {
  const dir = process.env.MMDIT_GPU_RUNS_DIR;
  if (dir) appendFileSync(join(dir, `worker-${pid}.log`), line + '\n');
}

async function acquire(limits?: EngineLimits): Promise<TestGpu> {
  nodeGpu ??= createNodeGpu();
  // No adapter is a failure, never a skip: CI must run the GPU tests.
  const ctx = await GpuContext.acquire(limits ? { gpu: nodeGpu.gpu, limits } : { gpu: nodeGpu.gpu });
  const a = ctx.adapterInfo;
  const name = `${a.vendor} / ${a.architecture} (${a.description}; fallback ${a.isFallbackAdapter}; shader-f16 ${ctx.caps.f16})`;
  log(`adapter ${name}`);
  const cache = new PipelineCache(ctx);
  return { ctx, cache, rt: new Runtime(ctx, { pipelines: cache }) };
}

/** One device per test worker, shared by every test file in it. */
export function testGpu(): Promise<TestGpu> {
  shared ??= acquire();
  return shared;
}

/** A separate device with engine-side caps (to force splitting); dispose it after use. */
export function cappedTestGpu(limits: EngineLimits): Promise<TestGpu> {
  return acquire(limits);
}

/** Marks one GPU-executed kernel test, for the count printed at the end of the run. */
export function recordGpuRun(name: string): void {
  log(`run ${name}`);
}
