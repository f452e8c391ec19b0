/**
 * The 1024² decode of the public reduced VAE (a random 128×128 latent), once in row bands under a
 * 16 MiB binding cap and once unsplit, each on its own device: bands, peak GPU memory, time, and
 * the largest difference (float image < 1e-4, uint8 ≤ 1 is a pass). Moved out of CI, which keeps
 * a smaller split-versus-unsplit decode.
 */
import { GpuContext } from '../../src/gpu/device.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { Vae } from '../../src/runtime/vae.js';
import { fileSource } from '../../src/node/file-source.js';
import { PipelineCache } from '../../src/shader/pipeline-cache.js';
import { openSafetensors } from '../../src/weights/safetensors.js';
import { lcgUniform } from '../lib/random.js';

const MiB = 2 ** 20;

export interface VaeDecodeRun {
  readonly bands: number;
  readonly peakGpuBytes: number;
  readonly ms: number;
}

export interface VaeDecodeBench {
  readonly latent: number;
  readonly capBytes: number;
  readonly split: VaeDecodeRun;
  readonly whole: VaeDecodeRun;
  readonly maxAbsFloat: number;
  readonly maxAbsUint8: number;
  readonly pass: boolean;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

export async function benchVaeDecode(gpu: GPU, weightsPath: string, latentSide = 128, capBytes = 16 * MiB): Promise<VaeDecodeBench> {
  const latent = lcgUniform(16 * latentSide * latentSide, 1024, -3, 3);
  const runs: (VaeDecodeRun & { image: Float32Array; rgba: Uint8ClampedArray })[] = [];
  for (const cap of [capBytes, undefined]) {
    const ctx = await GpuContext.acquire(cap ? { gpu, limits: { maxStorageBufferBindingSize: cap } } : { gpu });
    try {
      const vae = await Vae.load(new Runtime(ctx, { pipelines: new PipelineCache(ctx) }), await openSafetensors(await fileSource(weightsPath)));
      const graph = await vae.compileDecoder({ batch: 1, latentHeight: latentSide, latentWidth: latentSide, floatImage: true });
      ctx.write(graph.latent.buffer, 0, latent);
      const t0 = performance.now();
      graph.run();
      const [picture] = await graph.readImages();
      const ms = performance.now() - t0;
      runs.push({ bands: graph.bands, peakGpuBytes: ctx.memory.peakBytes, ms, image: await graph.readFloatImage(), rgba: picture!.data });
      vae.dispose();
    } finally {
      ctx.dispose();
    }
  }
  const [split, whole] = runs as [(typeof runs)[0], (typeof runs)[0]];
  const maxAbsFloat = maxAbsDiff(split.image, whole.image);
  const maxAbsUint8 = maxAbsDiff(split.rgba, whole.rgba);
  const run = (r: (typeof runs)[0]): VaeDecodeRun => ({ bands: r.bands, peakGpuBytes: r.peakGpuBytes, ms: r.ms });
  return {
    latent: latentSide, capBytes, split: run(split), whole: run(whole), maxAbsFloat, maxAbsUint8,
    pass: split.bands > 1 && whole.bands === 1 && maxAbsFloat < 1e-4 && maxAbsUint8 <= 1,
  };
}
