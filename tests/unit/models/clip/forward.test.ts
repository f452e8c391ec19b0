import { describe, expect, it } from 'vitest';
import { canonicalClipSource, type ClipActivation, type ClipModel } from '../../../../src/models/clip/index.js';
import { ClipTextEncoder } from '../../../../src/runtime/clip.js';
import { readTensor } from '../../../../src/tensor/read.js';
import { bytesSource } from '../../../../src/weights/byte-source.js';
import { convert } from '../../../../src/weights/convert.js';
import { parseManifest } from '../../../../src/weights/manifest.js';
import { manifestSource } from '../../../../src/weights/manifest-source.js';
import { decodeAs } from '../../../../src/weights/quantize.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import { DTYPE_FORMAT } from '../../../../src/weights/tensor-source.js';
import { expectClose } from '../../../reference/compare.js';
import { clipReference } from '../../../reference/text-encoders.js';
import { recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { randomClip, randomIds } from '../text-checkpoints.js';

/** f16 tests run where the adapter has shader-f16 and are reported as skipped elsewhere. */
const HAS_F16 = (await testGpu()).ctx.caps.f16;

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
  readonly activation?: ClipActivation;
}

const CASES: readonly Case[] = [
  { title: 'L-style, head dim 8 (D 24, 3 heads), 13 of 20 positions, batch 3', model: 'clip_l', hidden: 24, heads: 3, layers: 2, mlp: 40, projection: null, positions: 20, batch: 3, tokens: 13 },
  { title: 'G-style, head dim 8 (D 40, 5 heads), projection 24 wide, 77 tokens, batch 2', model: 'clip_g', hidden: 40, heads: 5, layers: 3, mlp: 96, projection: 24, positions: 77, batch: 2, tokens: 77 },
  { title: 'one layer (the sequence is the embeddings), head dim 16, tanh GELU', model: 'clip_l', hidden: 32, heads: 2, layers: 1, mlp: 64, projection: 32, positions: 9, batch: 1, tokens: 9, activation: 'gelu_tanh' },
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
      const encoder = await ClipTextEncoder.load(gpu.rt, source, { model: c.model, heads: c.heads, ...(c.activation ? { activation: c.activation } : {}) });
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
    const encoder = await ClipTextEncoder.load(gpu.rt, await openSafetensors(bytesSource(ckpt.file)), { model: 'clip_l', heads: 2 });
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
    const encoder = await ClipTextEncoder.load(gpu.rt, await openSafetensors(bytesSource(ckpt.file)), { model: 'clip_l', heads: 2 });
    try {
      const ids = promptIds(1, 8, 50, 1, true);
      ids[3] = 50;
      await expect(encoder.encode(ids)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', parameter: 'CLIP id at 3' });
      await expect(encoder.encode(new Int32Array(9), { batch: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      encoder.dispose();
    }
  });

  it('runs int8 weights from the converter as the reference does with the dequantised weights', async () => {
    const gpu = await testGpu();
    const ckpt = randomClip({ vocab: 90, positions: 12, hidden: 32, mlp: 64, layers: 2, projection: 32, seed: 71 });
    const files = new Map<string, Uint8Array>();
    await convert({
      model: 'clip-int8',
      quant: 'int8',
      inputs: { clip_g: await openSafetensors(bytesSource(ckpt.file)) },
      canonicalize: { clip_g: (src) => canonicalClipSource(src).source },
      write: async (file, bytes) => void files.set(file, bytes.slice()),
    });
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(files.get('manifest.json'))), 'manifest.json');
    expect(manifest.components.clip_g!.tensors['layers.1.attn.qkv.weight']!.format).toBe('q8');
    const source = manifestSource(manifest, 'clip_g', async (shard) => bytesSource(files.get(shard.file)!, shard.file));
    const encoder = await ClipTextEncoder.load(gpu.rt, source, { model: 'clip_g', heads: 4 });
    try {
      const dequantised = new Map<string, Float32Array>();
      for (const info of source.tensors.values()) {
        const format = DTYPE_FORMAT[info.dtype];
        const scales = format === 'q8' || format === 'q4' ? await source.readScales!(info.name) : undefined;
        dequantised.set(info.name, decodeAs(await source.read(info.name), scales, info.shape, format));
      }
      const ids = promptIds(2, 12, 90, 3, false);
      const out = await encoder.encode(ids, { batch: 2 });
      recordGpuRun('clip int8');
      const ref = clipReference(Float64Array, dequantised, encoder.config, ids, 2);
      expectClose(await readTensor(gpu.ctx, out.seq), ref.seq, TOL, 'int8 seq');
      expectClose(await readTensor(gpu.ctx, out.pooled), ref.pooledProjected!, TOL, 'int8 pooled');
    } finally {
      encoder.dispose();
    }
  });

  it.skipIf(!HAS_F16)('f16 compute stays within relative L2 1e-2 of f32 (skipped: adapter lacks shader-f16)', async () => {
    const gpu = await testGpu();
    const ckpt = randomClip({ vocab: 90, positions: 20, hidden: 64, mlp: 128, layers: 2, projection: 64, seed: 81 });
    const source = await openSafetensors(bytesSource(ckpt.file));
    const f32 = await ClipTextEncoder.load(gpu.rt, source, { model: 'clip_g', heads: 4 });
    const f16 = await ClipTextEncoder.load(gpu.rt, source, { model: 'clip_g', heads: 4, precision: 'f16' });
    try {
      const ids = promptIds(2, 20, 90, 4, false);
      const a = await f32.encode(ids, { batch: 2 });
      const b = await f16.encode(ids, { batch: 2 });
      recordGpuRun('clip f16');
      for (const name of ['seq', 'pooled'] as const) {
        const ref = await readTensor(gpu.ctx, a[name]);
        const got = await readTensor(gpu.ctx, b[name]);
        let num = 0;
        let den = 0;
        ref.forEach((r, i) => {
          num += ((got[i] as number) - r) ** 2;
          den += r * r;
        });
        console.log(`f16 CLIP ${name}: relative L2 ${Math.sqrt(num / den).toExponential(2)} against f32`);
        expect(Math.sqrt(num / den)).toBeLessThan(1e-2);
      }
    } finally {
      f32.dispose();
      f16.dispose();
    }
  });
});
