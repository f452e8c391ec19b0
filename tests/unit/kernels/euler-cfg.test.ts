import { describe, it } from 'vitest';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/compile.js';
import { eulerStep, noiseScaling } from '../../../src/kernels/euler-cfg.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { recordGpuRun, testGpu, type TestGpu } from '../../setup/gpu.js';
import { f32Weight } from '../../setup/run-graph.js';

const TOL = { atol: 1e-6, rtol: 1e-6 };

async function runSteps(gpu: TestGpu, shape: number[], x0: Float32Array, velocity: Float32Array, sigmas: Float32Array, steps: number[], cfg: boolean, guidance: number, init?: Float32Array): Promise<Float32Array> {
  const latent = f32Weight(gpu, 'latent', shape, Float32Array.from(x0));
  const v = f32Weight(gpu, 'v', [velocity.length], velocity);
  const s = f32Weight(gpu, 'sigmas', [sigmas.length], sigmas);
  const b = new GraphBuilder(gpu.ctx.caps, 'f32');
  if (init) noiseScaling(b, { latent, init: f32Weight(gpu, 'init', shape, init), sigmas: s });
  else eulerStep(b, { latent, velocity: v, sigmas: s, cfg, guidance });
  const graph = await compileGraph(gpu.ctx, gpu.cache, b);
  try {
    for (const step of steps) graph.run(step);
    recordGpuRun(`euler_cfg ${cfg} ${guidance}`);
    return new Float32Array(await gpu.ctx.read(latent.buffer, 0, x0.length * 4));
  } finally {
    graph.dispose();
  }
}

describe('euler_cfg', () => {
  const shape = [2, 3, 5, 7];
  const n = 2 * 3 * 5 * 7;
  const sigmas = new Float32Array([1, 0.9475425, 0.5480456, 0.0089285714, 0]);

  it('applies x += (σ[i+1] − σ[i])·(v_u + w·(v_c − v_u)) with cond rows first, per step', async () => {
    const gpu = await testGpu();
    const x0 = randomArray(n, 1, -3, 3);
    const v = randomArray(2 * n, 2, -3, 3);
    const got = await runSteps(gpu, shape, x0, v, sigmas, [0, 1, 2, 3], true, 5);
    const ref = Float64Array.from(x0);
    for (let step = 0; step < 4; step++) {
      const ds = (sigmas[step + 1] as number) - (sigmas[step] as number);
      for (let i = 0; i < n; i++) {
        const c = v[i] as number;
        const u = v[i + n] as number;
        ref[i] = (ref[i] as number) + ds * (u + 5 * (c - u));
      }
    }
    expectClose(got, ref, TOL, 'euler cfg');
  });

  it('uses the velocity as is without CFG (guidance 1 graphs have no uncond half)', async () => {
    const gpu = await testGpu();
    const x0 = randomArray(n, 3);
    const v = randomArray(n, 4);
    const got = await runSteps(gpu, shape, x0, v, sigmas, [2], false, 1);
    const ds = (sigmas[3] as number) - (sigmas[2] as number);
    expectClose(got, Array.from(x0, (x, i) => x + ds * (v[i] as number)), TOL, 'euler');
  });

  it('noise scaling mixes noise and the initial latent with σ[step]', async () => {
    const gpu = await testGpu();
    const noise = randomArray(n, 5);
    const init = randomArray(n, 6);
    const got = await runSteps(gpu, shape, noise, new Float32Array(n), sigmas, [2], false, 1, init);
    const s0 = sigmas[2] as number;
    expectClose(got, Array.from(noise, (x, i) => s0 * x + (1 - s0) * (init[i] as number)), TOL, 'noise scaling');
  });
});
