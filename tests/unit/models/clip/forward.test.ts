import { describe, expect, it } from 'vitest';
import { ClipTextEncoder, type ClipModel } from '../../../../src/models/clip/index.js';
import { readTensor } from '../../../../src/tensor/read.js';
import { bytesSource } from '../../../../src/weights/byte-source.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import { expectClose } from '../../../reference/compare.js';
import { clipReference } from '../../../reference/text-encoders.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { randomClip, randomIds } from '../text-checkpoints.js';

const TOL = { atol: 5e-5, rtol: 1e-4 };

interface Case {
  readonly title: string;
  readonly model: ClipModel;
  readonly hidden: number;
  readonly heads: number;
  readonly layers: number;
  readonly mlp: number;
  readonly projection: number | null;
  readonly positions: number;
  readonly batch: number;
  readonly tokens: number;
}

const CASES: readonly Case[] = [
  { title: 'L-style, head dim 8 (D 24, 3 heads), 13 of 20 positions, batch 3', model: 'clip_l', hidden: 24, heads: 3, layers: 2, mlp: 40, projection: null, positions: 20, batch: 3, tokens: 13 },
  { title: 'G-style, head dim 8 (D 40, 5 heads), projection 24 wide, 77 tokens, batch 2', model: 'clip_g', hidden: 40, heads: 5, layers: 3, mlp: 96, projection: 24, positions: 77, batch: 2, tokens: 77 },
  { title: 'one layer (the sequence is the embeddings), head dim 16', model: 'clip_l', hidden: 32, heads: 2, layers: 1, mlp: 64, projection: 32, positions: 9, batch: 1, tokens: 9 },
];

/** Ids with an end token (the largest id) at a different place per row, pads after it. */
function promptIds(batch: number, tokens: number, vocab: number, seed: number, padWithEnd: boolean): Int32Array {
  const ids = randomIds(batch * tokens, seed, 1, vocab - 2);
  for (let b = 0; b < batch; b++) {
    const end = Math.min(tokens - 1, 2 + 5 * b);
    ids[b * tokens] = vocab - 2;
    for (let t = end; t < tokens; t++) ids[b * tokens + t] = t === end || padWithEnd ? vocab - 1 : 0;
  }
  return ids;
}

describe('CLIP text encoder', () => {
  for (const c of CASES) {
    it(`matches the f64 reference: ${c.title}`, async () => {
      const gpu = await testGpu();
      const vocab = 301;
      const ckpt = randomClip({ vocab, positions: c.positions, hidden: c.hidden, mlp: c.mlp, layers: c.layers, projection: c.projection, seed: c.hidden });
      const source = await openSafetensors(bytesSource(ckpt.file, 'clip.safetensors'));
      const encoder = await ClipTextEncoder.load(gpu.ctx, gpu.cache, source, { model: c.model, heads: c.heads });
      try {
        const ids = promptIds(c.batch, c.tokens, vocab, c.layers, c.model === 'clip_l');
        const out = await encoder.encode(ids, { batch: c.batch, extras: true, taps: true });
        recordGpuRun(`clip ${c.title}`);
        const ref = clipReference(Float64Array, ckpt.weights, encoder.config, ids, c.batch);
        const ref32 = clipReference(Float32Array, ckpt.weights, encoder.config, ids, c.batch);
        expect(Array.from(out.eot)).toEqual(ref.eot);
        expectClose(ref32.seq, ref.seq, TOL, 'f32 reference seq');
        expectClose(await readTensor(gpu.ctx, out.seq), ref.seq, TOL, 'seq', out.seq.shape);
        const projected = c.model === 'clip_g';
        expectClose(await readTensor(gpu.ctx, out.pooled), (projected ? ref.pooledProjected : ref.pooledUnprojected)!, TOL, 'pooled');
        expectClose(await readTensor(gpu.ctx, out.lastHidden!), ref.lastHidden, TOL, 'last hidden');
        const alternative = projected ? ref.pooledUnprojected : ref.pooledProjected;
        if (alternative) expectClose(await readTensor(gpu.ctx, out.pooledAlternative!), alternative, TOL, 'pooled (other rule)');
        else expect(out.pooledAlternative).toBeUndefined();
        for (let i = 0; i < c.layers; i++) expectClose(await readTensor(gpu.ctx, out.taps.get(`layer_${i}`)!), ref.layers[i]!, TOL, `layer_${i}`);
        expectClose(await readTensor(gpu.ctx, out.taps.get('embeddings')!), ref.embeddings, { atol: 0, rtol: 0 }, 'embeddings');
      } finally {
        encoder.dispose();
      }
    });
  }

  it('reuses its compiled graph for a second prompt of the same shape', async () => {
    const gpu = await testGpu();
    const ckpt = randomClip({ vocab: 50, positions: 8, hidden: 16, mlp: 32, layers: 2, projection: null, seed: 5 });
    const encoder = await ClipTextEncoder.load(gpu.ctx, gpu.cache, await openSafetensors(bytesSource(ckpt.file)), { model: 'clip_l', heads: 2 });
    try {
      const first = promptIds(1, 8, 50, 1, true);
      const second = promptIds(1, 8, 50, 2, true);
      await encoder.encode(first);
      const out = await encoder.encode(second);
      recordGpuRun('clip second prompt');
      expect(out.seq.shape).toEqual([1, 8, 16]);
      const ref = clipReference(Float64Array, ckpt.weights, encoder.config, second, 1);
      expectClose(await readTensor(gpu.ctx, out.seq), ref.seq, TOL, 'second prompt seq');
    } finally {
      encoder.dispose();
    }
  });

  it('rejects ids outside the vocabulary before any GPU work', async () => {
    const gpu = await testGpu();
    const ckpt = randomClip({ vocab: 50, positions: 8, hidden: 16, mlp: 32, layers: 1, projection: null, seed: 6 });
    const encoder = await ClipTextEncoder.load(gpu.ctx, gpu.cache, await openSafetensors(bytesSource(ckpt.file)), { model: 'clip_l', heads: 2 });
    try {
      const ids = promptIds(1, 8, 50, 1, true);
      ids[3] = 50;
      await expect(encoder.encode(ids)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', parameter: 'CLIP id at 3' });
      await expect(encoder.encode(new Int32Array(9), { batch: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      encoder.dispose();
    }
  });
});
