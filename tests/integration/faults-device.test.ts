import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/device.js';
import '../../src/node/commands/verify.js';
import { createNodeGpu } from '../../src/node/dawn.js';
import { runVectorSet, type VerifyGpu } from '../../src/node/verify.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';

/**
 * Fault: the device is lost in the middle of sampling (`device.destroy()` while the steps are
 * being encoded). The case fails with DeviceLostError, and a new context then runs the same case
 * to the reference — no state survives from the lost device.
 */

const SHARED = process.env['MMDIT_SHARED'] ?? resolve(process.cwd(), '../shared');
const VECTORS = join(SHARED, 'vectors');
const CASE = 'c1_sd3m/sample_euler_8steps_cfg5_shift3';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmdit-device-lost-'));
  symlinkSync(join(VECTORS, 'c1_sd3m'), join(dir, 'c1_sd3m'));
  const index = JSON.parse(readFileSync(join(VECTORS, 'index.json'), 'utf8')) as { configs: object; cases: { name: string }[] };
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ version: 1, configs: index.configs, cases: index.cases.filter((c) => c.name === CASE) }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A context of its own; `destroyAtStep` destroys its device when sampling encodes that step. */
async function freshGpu(destroyAtStep?: number): Promise<{ gpu: VerifyGpu; stepsSeen: () => number; dispose: () => void }> {
  const node = createNodeGpu();
  const ctx = await GpuContext.acquire({ gpu: node.gpu });
  let steps = 0;
  if (destroyAtStep !== undefined) {
    const device = ctx.device;
    const create = device.createCommandEncoder.bind(device);
    // The sampler encodes each step in a command encoder of its own: counted by the caller's frame.
    device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
      if (/\bat (async )?sample \(/.test(new Error().stack ?? '') && ++steps === destroyAtStep) device.destroy();
      return create(descriptor);
    };
  }
  return { gpu: { ctx, cache: new PipelineCache(ctx) }, stepsSeen: () => steps, dispose: () => { ctx.dispose(); node.dispose(); } };
}

describe('fault: device lost mid-sampling', () => {
  it('raises DeviceLostError, and a new context runs the same case to the reference', async () => {
    const lost = await freshGpu(3);
    try {
      const report = await runVectorSet({ dir, gpu: lost.gpu, log: () => undefined });
      expect(lost.stepsSeen()).toBeGreaterThanOrEqual(3);
      expect(lost.stepsSeen()).toBeLessThan(8);
      expect(report.cases[0]).toMatchObject({ name: CASE, pass: false, error: { type: 'DeviceLostError' } });
      expect(report.cases[0]?.error?.message).toMatch(/destroyed/);
      expect(lost.gpu.ctx.lost?.name).toBe('DeviceLostError');
    } finally {
      lost.dispose();
    }
    const fresh = await freshGpu();
    try {
      const report = await runVectorSet({ dir, gpu: fresh.gpu, log: () => undefined });
      expect(report.cases[0]).toMatchObject({ name: CASE, pass: true });
      expect(report.cases[0]?.maxAbs).toBeLessThan(1e-4);
    } finally {
      fresh.dispose();
    }
  });
});
