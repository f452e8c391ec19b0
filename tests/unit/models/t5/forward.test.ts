import { describe, expect, it } from 'vitest';
import { canonicalT5Source } from '../../../../src/models/t5/index.js';
import { T5TextEncoder } from '../../../../src/runtime/t5.js';
import { Runtime } from '../../../../src/runtime/runtime.js';
import { readTensor } from '../../../../src/tensor/read.js';
import { bytesSource } from '../../../../src/weights/byte-source.js';
import { convert } from '../../../../src/weights/convert.js';
import { parseManifest } from '../../../../src/weights/manifest.js';
import { manifestSource } from '../../../../src/weights/manifest-source.js';
import { decodeAs } from '../../../../src/weights/quantize.js';
import { openSafetensors } from '../../../../src/weights/safetensors.js';
import { DTYPE_FORMAT, type TensorSource } from '../../../../src/weights/tensor-source.js';
import { expectClose } from '../../../reference/compare.js';
import { t5Reference } from '../../../reference/text-encoders.js';
import { cappedTestGpu, recordGpuRun, testGpu } from '../../../setup/gpu.js';
import { randomIds, randomT5, type T5Dims } from '../text-checkpoints.js';

const TOL = { atol: 5e-5, rtol: 1e-4 };

async function open(file: Uint8Array): Promise<TensorSource> {
  return openSafetensors(bytesSource(file, 't5.safetensors'));
}

/** Every tensor of a source decoded to f32 (dequantised for q8/q4). */
async function decodeAll(src: TensorSource): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const info of src.tensors.values()) {
    const format = DTYPE_FORMAT[info.dtype];
    const scales = format === 'q8' || format === 'q4' ? await src.readScales!(info.name) : undefined;
    out.set(info.name, decodeAs(await src.read(info.name), scales, info.shape, format));
  }
  return out;
}

describe('T5 encoder', () => {
  const long: T5Dims = { vocab: 200, dModel: 32, heads: 3, dKv: 8, dFf: 48, layers: 2, buckets: 32, seed: 11 };

  it('matches the f64 reference for 150 tokens (past the 128 max distance), head dim 8, inner width ≠ D', async () => {
    const gpu = await testGpu();
    const ckpt = randomT5(long);
    const encoder = await T5TextEncoder.load(gpu.rt, await open(ckpt.file));
    try {
      const ids = randomIds(150, 3, 0, long.vocab);
      const out = await encoder.encode(ids, { taps: true });
      recordGpuRun('t5 150 tokens');
      const ref = t5Reference(Float64Array, ckpt.weights, encoder.config, ids, 1);
      expectClose(t5Reference(Float32Array, ckpt.weights, encoder.config, ids, 1).seq, ref.seq, TOL, 'f32 reference');
      expectClose(await readTensor(gpu.ctx, out.seq), ref.seq, TOL, 'seq', out.seq.shape);
      expectClose(await readTensor(gpu.ctx, out.taps.get('position_bias')!), ref.positionBias, { atol: 0, rtol: 0 }, 'position bias');
      for (let i = 0; i < long.layers; i++) expectClose(await readTensor(gpu.ctx, out.taps.get(`layer_${i}`)!), ref.layers[i]!, TOL, `layer_${i}`);
    } finally {
      encoder.dispose();
    }
  });

  it('sequential mode (one block resident at a time) gives the same result bit for bit', async () => {
    const gpu = await testGpu();
    const dims: T5Dims = { vocab: 100, dModel: 24, heads: 2, dKv: 12, dFf: 40, layers: 3, buckets: 16, seed: 21 };
    const ckpt = randomT5(dims);
    const ids = randomIds(2 * 9, 4, 0, dims.vocab);
    const whole = await T5TextEncoder.load(gpu.rt, await open(ckpt.file));
    const sequential = await T5TextEncoder.load(gpu.rt, await open(ckpt.file), { sequential: true });
    try {
      const a = await whole.encode(ids, { batch: 2, taps: true });
      const b = await sequential.encode(ids, { batch: 2, taps: true });
      recordGpuRun('t5 sequential');
      expect(await readTensor(gpu.ctx, b.seq)).toEqual(await readTensor(gpu.ctx, a.seq));
      for (const name of ['embeddings', 'position_bias', 'layer_0', 'layer_1', 'layer_2']) {
        expect(await readTensor(gpu.ctx, b.taps.get(name)!), name).toEqual(await readTensor(gpu.ctx, a.taps.get(name)!));
      }
      const ref = t5Reference(Float64Array, ckpt.weights, sequential.config, ids, 2);
      expectClose(await readTensor(gpu.ctx, b.seq), ref.seq, TOL, 'sequential seq');
    } finally {
      whole.dispose();
      sequential.dispose();
    }
  });

  it('sequential mode holds one block of weights at a time, and only the resident tensors between calls', async () => {
    const gpu = await testGpu();
    const dims: T5Dims = { vocab: 64, dModel: 64, heads: 2, dKv: 32, dFf: 128, layers: 3, buckets: 8, seed: 31 };
    const ckpt = randomT5(dims);
    const blockBytes = 2 * (3 * 64 * 64 + 64 * 64 + 3 * 128 * 64) + 2 * 64 * 4;
    const before = gpu.ctx.memory.currentBytes;
    // F16 weights kept F16 (no widening on CPU emulation), so the byte counts below are the stored ones.
    const rt = new Runtime(gpu.ctx, { pipelines: gpu.cache, widenHalfWeights: false });
    const encoder = await T5TextEncoder.load(rt, await open(ckpt.file), { sequential: true });
    const resident = gpu.ctx.memory.currentBytes - before;
    // Token table (64·64 f16), bias table (8·2 f16), final norm (64 f32): nothing of the blocks.
    expect(resident).toBeLessThan(64 * 64 * 2 + 2 * 256);
    gpu.ctx.memory.resetPeak();
    await encoder.encode(randomIds(5, 1, 0, 64));
    await gpu.ctx.device.queue.onSubmittedWorkDone();
    recordGpuRun('t5 sequential residency');
    // Activations here are a few KB; all three blocks would be 3·blockBytes.
    expect(gpu.ctx.memory.peakBytes - before - resident).toBeLessThan(2 * blockBytes);
    encoder.dispose();
    expect(gpu.ctx.memory.currentBytes).toBe(before);
  });

  it('reads the tied shared.weight table under the SD3 single-file prefix', async () => {
    const gpu = await testGpu();
    const dims: T5Dims = { vocab: 90, dModel: 16, heads: 2, dKv: 8, dFf: 24, layers: 1, buckets: 32, tied: true, prefix: 'text_encoders.t5xxl.transformer.', seed: 41 };
    const ckpt = randomT5(dims);
    const encoder = await T5TextEncoder.load(gpu.rt, await open(ckpt.file));
    try {
      const ids = randomIds(7, 5, 0, dims.vocab);
      const out = await encoder.encode(ids);
      recordGpuRun('t5 tied prefix');
      expectClose(await readTensor(gpu.ctx, out.seq), t5Reference(Float64Array, ckpt.weights, encoder.config, ids, 1).seq, TOL, 'seq');
    } finally {
      encoder.dispose();
    }
  });

  it('splits a token table larger than the binding limit into row parts', async () => {
    const capped = await cappedTestGpu({ maxStorageBufferBindingSize: 16 * 1024 });
    const dims: T5Dims = { vocab: 1000, dModel: 32, heads: 2, dKv: 8, dFf: 32, layers: 1, buckets: 32, seed: 51 };
    const ckpt = randomT5(dims);
    const encoder = await T5TextEncoder.load(capped.rt, await open(ckpt.file));
    try {
      // The table is 64000 bytes: four parts of ≤ 16 KiB; ids from every part.
      const ids = Int32Array.from([0, 255, 256, 511, 512, 999, 700, 3, 1]);
      const out = await encoder.encode(ids, { taps: true });
      recordGpuRun('t5 table parts');
      const ref = t5Reference(Float64Array, ckpt.weights, encoder.config, ids, 1);
      expectClose(await readTensor(capped.ctx, out.taps.get('embeddings')!), ref.embeddings, { atol: 0, rtol: 0 }, 'embeddings');
      expectClose(await readTensor(capped.ctx, out.seq), ref.seq, TOL, 'seq');
    } finally {
      encoder.dispose();
      capped.ctx.dispose();
    }
  });

  it('uploads a token table over the buffer limit as separate row-part buffers', async () => {
    const capped = await cappedTestGpu({ maxBufferSize: 16 * 1024, maxStorageBufferBindingSize: 16 * 1024 });
    const dims: T5Dims = { vocab: 1000, dModel: 32, heads: 2, dKv: 8, dFf: 32, layers: 1, buckets: 32, seed: 52 };
    const ckpt = randomT5(dims);
    try {
      for (const sequential of [false, true]) {
        const encoder = await T5TextEncoder.load(capped.rt, await open(ckpt.file), { sequential });
        try {
          const ids = Int32Array.from([999, 0, 256, 511, 512, 700, 3]);
          const out = await encoder.encode(ids, { taps: true });
          recordGpuRun(`t5 table buffers sequential=${sequential}`);
          const ref = t5Reference(Float64Array, ckpt.weights, encoder.config, ids, 1);
          expectClose(await readTensor(capped.ctx, out.taps.get('embeddings')!), ref.embeddings, { atol: 0, rtol: 0 }, 'embeddings');
          expectClose(await readTensor(capped.ctx, out.seq), ref.seq, TOL, 'seq');
        } finally {
          encoder.dispose();
        }
      }
      expect(capped.ctx.memory.liveBuffers).toBe(1);
    } finally {
      capped.ctx.dispose();
    }
  });

  it('runs int4 weights from the converter (canonical names) as the reference does with the dequantised weights', async () => {
    const gpu = await testGpu();
    const dims: T5Dims = { vocab: 120, dModel: 64, heads: 4, dKv: 8, dFf: 96, layers: 2, buckets: 32, seed: 61 };
    const ckpt = randomT5(dims);
    const files = new Map<string, Uint8Array>();
    await convert({
      model: 't5-int4',
      quant: 'int4',
      inputs: { t5: await open(ckpt.file) },
      canonicalize: { t5: (src) => canonicalT5Source(src).source },
      write: async (file, bytes) => void files.set(file, bytes.slice()),
    });
    const manifest = parseManifest(JSON.parse(new TextDecoder().decode(files.get('manifest.json'))), 'manifest.json');
    const tensors = manifest.components.t5!.tensors;
    expect(tensors['blocks.0.attn.qkv.weight']!.format).toBe('q4');
    expect(tensors['blocks.1.ffn.wo.weight']!.format).toBe('q4');
    expect(tensors['embed_tokens.weight']!.format).toBe('f16');
    const source = manifestSource(manifest, 't5', async (shard) => bytesSource(files.get(shard.file)!, shard.file));
    const encoder = await T5TextEncoder.load(gpu.rt, source, { sequential: true });
    try {
      const ids = randomIds(2 * 11, 6, 0, dims.vocab);
      const out = await encoder.encode(ids, { batch: 2 });
      recordGpuRun('t5 int4');
      const ref = t5Reference(Float64Array, await decodeAll(source), encoder.config, ids, 2);
      expectClose(await readTensor(gpu.ctx, out.seq), ref.seq, TOL, 'int4 seq');
    } finally {
      encoder.dispose();
    }
  });
});
