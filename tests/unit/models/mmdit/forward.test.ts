import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../../src/errors.js';
import { checkForwardInputs } from '../../../../src/models/mmdit/index.js';
import { loadDenoiser } from '../../../../src/runtime/denoiser.js';
import { ORIGINAL_PREFIX } from '../../../../src/models/mmdit/keys.js';
import { readTensor } from '../../../../src/tensor/read.js';
import { bf16ToF32, f16ToF32, f32ToF16 } from '../../../../src/weights/decode.js';
import { expectClose } from '../../../reference/compare.js';
import { mmditReference, type RefConfig } from '../../../reference/mmdit.js';
import { randomArray } from '../../../reference/random.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { tinyMmdit, tinySafetensors, toDiffusers, type TinyDtype, type TinyTensor } from './tiny.js';

/** f16 tests run where the adapter has shader-f16 and are reported as skipped elsewhere. */
const HAS_F16 = (await testGpu()).ctx.caps.f16;

const TOL = { atol: 3e-5, rtol: 3e-5 };

/** The values a checkpoint of `dtype` really holds (what the engine must compute with). */
function stored(tensors: ReadonlyMap<string, TinyTensor>, dtype: TinyDtype): Map<string, Float32Array> {
  const round = dtype === 'F32' ? (v: number) => v : dtype === 'F16' ? (v: number) => f16ToF32(f32ToF16(v)) : (v: number) => bf16ToF32(new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16);
  return new Map([...tensors].map(([k, t]) => [k, t.data.map(round)]));
}

interface Case {
  readonly title: string;
  readonly config: RefConfig;
  readonly layout: 'original' | 'diffusers';
  readonly dtype: TinyDtype;
  readonly batch: number;
  readonly height: number;
  readonly width: number;
  readonly contextLength: number;
}

const CASES: Case[] = [
  {
    title: 'depth 1 (the only block is the pre-only last one), QK-norm, dual attention, 4→4 channels, diffusers F16',
    config: { depth: 1, hidden: 64, patch: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 5, contextDim: 24, pooledDim: 12, mlpHidden: 96, qkNorm: true, dual: [0] },
    layout: 'diffusers', dtype: 'F16', batch: 2, height: 4, width: 6, contextLength: 5,
  },
  {
    title: 'depth 2, patch 1, dual attention without QK-norm, 3→5 channels, odd crop, original F32',
    config: { depth: 2, hidden: 128, patch: 1, inChannels: 3, outChannels: 5, posEmbedMaxSize: 6, contextDim: 20, pooledDim: 8, mlpHidden: 256, qkNorm: false, dual: [1] },
    layout: 'original', dtype: 'F32', batch: 1, height: 3, width: 5, contextLength: 3,
  },
  {
    title: 'depth 3, patch 3, QK-norm, batch 3, original BF16',
    config: { depth: 3, hidden: 64, patch: 3, inChannels: 2, outChannels: 2, posEmbedMaxSize: 4, contextDim: 16, pooledDim: 8, mlpHidden: 128, qkNorm: true, dual: [] },
    layout: 'original', dtype: 'BF16', batch: 3, height: 9, width: 6, contextLength: 2,
  },
  {
    title: 'depth 2, four heads of 16 (head width read from QK-norm), dual attention, patch 1, diffusers F32',
    config: { depth: 2, hidden: 64, patch: 1, inChannels: 3, outChannels: 3, posEmbedMaxSize: 4, contextDim: 12, pooledDim: 6, mlpHidden: 96, qkNorm: true, dual: [0], headDim: 16 },
    layout: 'diffusers', dtype: 'F32', batch: 2, height: 3, width: 4, contextLength: 4,
  },
];

describe('MM-DiT forward', () => {
  for (const k of CASES) {
    it(`matches the f64 reference: ${k.title}`, async () => {
      const gpu = await testGpu();
      const tensors = tinyMmdit(k.config, 11);
      const source = k.layout === 'original'
        ? await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX, dtype: k.dtype })
        : await tinySafetensors(toDiffusers(tensors, k.config.depth), { dtype: k.dtype });
      const denoiser = await loadDenoiser(gpu.rt, source);
      const c = k.config;
      const x = randomArray(k.batch * c.inChannels * k.height * k.width, 21, -2, 2);
      const context = randomArray(k.batch * k.contextLength * c.contextDim, 22);
      const y = randomArray(k.batch * c.pooledDim, 23);
      const t = Array.from({ length: k.batch }, (_, i) => 1000 - 371.5 * i);
      const graph = await denoiser.compile({ batch: k.batch, latentHeight: k.height, latentWidth: k.width, contextLength: k.contextLength, cfg: false, taps: true });
      try {
        graph.writeLatent(x);
        graph.writeContext(context);
        graph.writePooled(y);
        graph.writeTimesteps(t);
        graph.forward(0);
        const ref = mmditReference(stored(tensors, k.dtype), c, { x, t, context, y, batch: k.batch, height: k.height, width: k.width, contextLength: k.contextLength });
        for (const name of ['c', 'x_embed', 'context_embed', `block${c.depth - 1}.x_out`, 'final_out']) {
          expectClose(await readTensor(gpu.ctx, graph.taps.get(name)!), ref.int.get(name)!, TOL, name);
        }
        if (c.dual.length > 0) expectClose(await readTensor(gpu.ctx, graph.taps.get(`block${c.dual[0]}.attn2`)!), ref.int.get(`block${c.dual[0]}.attn2`)!, TOL, 'attn2');
        expectClose(await readTensor(gpu.ctx, graph.output), ref.out, TOL, 'velocity', graph.output.shape);
        recordGpuRun(`mmdit forward ${k.title}`);
      } finally {
        denoiser.dispose();
      }
    });
  }

  it('one zero context row counted n times (lastContextRowCount) is the forward of n zero rows', async () => {
    const gpu = await testGpu();
    // Two blocks (a full one and the pre-only last one) with dual attention: every attention reads the count.
    const c: RefConfig = { depth: 2, hidden: 64, patch: 1, inChannels: 4, outChannels: 4, posEmbedMaxSize: 4, contextDim: 16, pooledDim: 8, mlpHidden: 128, qkNorm: true, dual: [0] };
    const tensors = tinyMmdit(c, 17);
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    try {
      const [batch, h, w, clipRows, zeros] = [2, 3, 4, 5, 77];
      const x = randomArray(batch * c.inChannels * h * w, 41, -2, 2);
      const clip = randomArray(batch * clipRows * c.contextDim, 42);
      const y = randomArray(batch * c.pooledDim, 43);
      const t = [910, 250];
      const full = new Float32Array(batch * (clipRows + zeros) * c.contextDim);
      const short = new Float32Array(batch * (clipRows + 1) * c.contextDim);
      for (let b = 0; b < batch; b++) {
        const row = clip.subarray(b * clipRows * c.contextDim, (b + 1) * clipRows * c.contextDim);
        full.set(row, b * (clipRows + zeros) * c.contextDim);
        short.set(row, b * (clipRows + 1) * c.contextDim);
      }
      const graph = await denoiser.compile({ batch, latentHeight: h, latentWidth: w, contextLength: clipRows + 1, lastContextRowCount: zeros, cfg: false });
      graph.writeLatent(x);
      graph.writeContext(short);
      graph.writePooled(y);
      graph.writeTimesteps(t);
      graph.forward(0);
      const ref = mmditReference(stored(tensors, 'F32'), c, { x, t, context: full, y, batch, height: h, width: w, contextLength: clipRows + zeros });
      expectClose(await readTensor(gpu.ctx, graph.output), ref.out, TOL, 'velocity with the collapsed rows', graph.output.shape);
      // A different count is a different graph (the cache key holds it).
      const plain = await denoiser.compile({ batch, latentHeight: h, latentWidth: w, contextLength: clipRows + 1, cfg: false });
      expect(plain).not.toBe(graph);
      await expect(denoiser.compile({ batch, latentHeight: h, latentWidth: w, contextLength: clipRows + 1, lastContextRowCount: 0, cfg: false })).rejects.toThrow(/lastContextRowCount/);
      recordGpuRun('mmdit forward with collapsed zero rows');
    } finally {
      denoiser.dispose();
    }
  });

  it('a CFG graph reads one latent for the cond and the uncond rows', async () => {
    const gpu = await testGpu();
    const c = CASES[1]!.config;
    const tensors = tinyMmdit(c, 5);
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }));
    try {
      const [h, w, L] = [4, 2, 3];
      const x = randomArray(c.inChannels * h * w, 31);
      const context = randomArray(2 * L * c.contextDim, 32);
      const y = randomArray(2 * c.pooledDim, 33);
      const graph = await denoiser.compile({ batch: 1, latentHeight: h, latentWidth: w, contextLength: L, cfg: true });
      expect(graph.forwardBatch).toBe(2);
      expect(graph.inputs.latent.shape).toEqual([1, c.inChannels, h, w]);
      graph.writeLatent(x);
      graph.writeContext(context);
      graph.writePooled(y);
      graph.writeTimesteps(640);
      graph.forward(0);
      const ref = mmditReference(stored(tensors, 'F32'), c, { x: [...x, ...x], t: [640, 640], context, y, batch: 2, height: h, width: w, contextLength: L });
      expectClose(await readTensor(gpu.ctx, graph.output), ref.out, TOL, 'cfg velocity');
      recordGpuRun('mmdit forward cfg');
    } finally {
      denoiser.dispose();
    }
  });

  it.skipIf(!HAS_F16)('f16 compute stays within relative L2 1e-2 of the f64 reference (skipped: adapter lacks shader-f16)', async () => {
    const gpu = await testGpu();
    const k = CASES[0]!;
    const c = k.config;
    const tensors = tinyMmdit(c, 11);
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(tensors, { prefix: ORIGINAL_PREFIX }), { precision: 'f16' });
    try {
      const x = randomArray(k.batch * c.inChannels * k.height * k.width, 21, -2, 2);
      const context = randomArray(k.batch * k.contextLength * c.contextDim, 22);
      const y = randomArray(k.batch * c.pooledDim, 23);
      const t = [900, 120];
      const graph = await denoiser.compile({ batch: k.batch, latentHeight: k.height, latentWidth: k.width, contextLength: k.contextLength, cfg: false });
      graph.writeLatent(x);
      graph.writeContext(context);
      graph.writePooled(y);
      graph.writeTimesteps(t);
      graph.forward(0);
      const got = await readTensor(gpu.ctx, graph.output);
      const ref = mmditReference(stored(tensors, 'F32'), c, { x, t, context, y, batch: k.batch, height: k.height, width: k.width, contextLength: k.contextLength }).out;
      let diff = 0;
      let norm = 0;
      ref.forEach((r, i) => {
        diff += ((got[i] as number) - r) ** 2;
        norm += r * r;
      });
      expect(Math.sqrt(diff / norm)).toBeLessThan(1e-2);
      recordGpuRun('mmdit forward f16');
    } finally {
      denoiser.dispose();
    }
  });

  it('rejects bad inputs before GPU work, naming the tensor, the value and the range (MODEL_SPEC §3.7)', async () => {
    const gpu = await testGpu();
    const c = CASES[0]!.config;
    const denoiser = await loadDenoiser(gpu.rt, await tinySafetensors(tinyMmdit(c), { prefix: ORIGINAL_PREFIX }));
    try {
      const cases: [Parameters<typeof checkForwardInputs>[1], RegExp][] = [
        [{ x: [1, 5, 4, 4], t: [1], context: [1, 2, 24], y: [1, 12] }, /x channels.*4.*received 5/],
        [{ x: [1, 4, 5, 4], t: [1], context: [1, 2, 24], y: [1, 12] }, /latentHeight.*multiple of the patch size 2 up to 10.*received 5/],
        [{ x: [1, 4, 4, 12], t: [1], context: [1, 2, 24], y: [1, 12] }, /latentWidth.*up to 10.*received 12/],
        [{ x: [1, 4, 4, 4], t: [1], context: [1, 2, 25], y: [1, 12] }, /context width.*24.*received 25/],
        [{ x: [1, 4, 4, 4], t: [1], context: [1, 2, 24], y: [1, 13] }, /y width.*12.*received 13/],
        [{ x: [2, 4, 4, 4], t: [2], context: [1, 2, 24], y: [2, 12] }, /context batch.*received 1/],
      ];
      const live = gpu.ctx.memory.liveBuffers;
      for (const [shapes, message] of cases) {
        expect(() => checkForwardInputs(denoiser.config, shapes)).toThrow(InvalidArgumentError);
        expect(() => checkForwardInputs(denoiser.config, shapes)).toThrow(message);
      }
      await expect(denoiser.compile({ batch: 1, latentHeight: 12, latentWidth: 4, contextLength: 2, cfg: false })).rejects.toThrow(/latentHeight/);
      expect(gpu.ctx.memory.liveBuffers).toBe(live);
    } finally {
      denoiser.dispose();
    }
  });
});
