import { describe, expect, it } from 'vitest';
import { embed, tableParts } from '../../../src/kernels/embed.js';
import type { GpuTensor, StorageFormat } from '../../../src/tensor/tensor.js';
import { decodeAs, encodeAs } from '../../../src/weights/quantize.js';
import { randomArray } from '../../reference/random.js';
import { cappedTestGpu, type TestGpu, testGpu } from '../../setup/gpu.js';
import { runGraph, uploadWeight } from '../../setup/run-graph.js';
import { embedRef } from '../../reference/ops.js';

/** A table in `format` on the GPU, and the exact values it stands for. */
function table(gpu: TestGpu, label: string, rows: number, dim: number, format: StorageFormat, seed: number): { tensor: GpuTensor; values: Float32Array } {
  const raw = randomArray(rows * dim, seed, -2, 2);
  const shape = [rows, dim];
  if (format === 'bf16') {
    const bits = new Uint32Array(raw.buffer);
    const data = new Uint16Array(raw.length);
    for (let i = 0; i < raw.length; i++) data[i] = (bits[i] as number) >>> 16;
    const bytes = new Uint8Array(data.buffer);
    return { tensor: uploadWeight(gpu, label, shape, 'bf16', bytes), values: decodeAs(bytes, undefined, shape, 'bf16') };
  }
  const { data, scales } = encodeAs(raw, shape, format, label);
  const scaleInfo = format === 'q8' ? { shape: [rows], format: 'f32' as const } : { shape: [rows, dim / 32], format: 'f16' as const };
  const tensor = uploadWeight(gpu, label, shape, format, data, scales ? { ...scaleInfo, bytes: scales } : undefined);
  return { tensor, values: decodeAs(data, scales, shape, format) };
}

function ids(n: number, vocab: number, seed: number): Uint32Array {
  return Uint32Array.from(randomArray(n, seed, 0, vocab), (v) => Math.min(vocab - 1, Math.floor(v)));
}

describe('embed', () => {
  const formats: [StorageFormat, number][] = [['f32', 7], ['f16', 10], ['bf16', 6], ['q8', 12], ['q4', 64]];
  for (const [format, dim] of formats) {
    it(`gathers ${format} token rows (D=${dim}) and adds f16 position rows, batch 3 × 11 tokens`, async () => {
      const gpu = await testGpu();
      const [vocab, tokens, batch] = [53, 11, 3];
      const tok = table(gpu, 'tok', vocab, dim, format, dim);
      const pos = table(gpu, 'pos', 13, dim, dim % 2 === 0 ? 'f16' : 'f32', dim + 1);
      const idx = ids(batch * tokens, vocab, 3);
      idx[0] = 0;
      idx[1] = vocab - 1;
      const out = await runGraph(gpu, `embed ${format}`, (b) => {
        b.output('y', embed(b, b.input('ids', [batch * tokens], 'u32'), tok.tensor, { pos: pos.tensor, posOffset: 2, tokens }));
      }, { ids: idx });
      expect([...out.y!]).toEqual([...embedRef(idx, tok.values, dim, tokens, pos.values, 2)]);
    });
  }

  it('gathers without positions from a bf16 position-free table (T5)', async () => {
    const gpu = await testGpu();
    const tok = table(gpu, 'tok', 40, 8, 'bf16', 1);
    const idx = ids(19, 40, 4);
    const out = await runGraph(gpu, 'embed no pos', (b) => {
      b.output('y', embed(b, b.input('ids', [19], 'u32'), tok.tensor, { tokens: 19 }));
    }, { ids: idx });
    expect([...out.y!]).toEqual([...embedRef(idx, tok.values, 8, 19, null, 0)]);
  });

  it('dispatches once per given row part, each id read from its own part', async () => {
    const gpu = await testGpu();
    const parts = [table(gpu, 'p0', 5, 6, 'f16', 1), table(gpu, 'p1', 9, 6, 'f16', 2), table(gpu, 'p2', 3, 6, 'f16', 3)];
    const all = new Float32Array([...parts[0]!.values, ...parts[1]!.values, ...parts[2]!.values]);
    const idx = Uint32Array.from([0, 4, 5, 13, 14, 16, 7, 2]);
    const out = await runGraph(gpu, 'embed parts', (b) => {
      b.output('y', embed(b, b.input('ids', [2, 4], 'u32'), parts.map((p) => p.tensor), { tokens: 4 }));
    }, { ids: idx });
    expect([...out.y!]).toEqual([...embedRef(idx, all, 6, 4, null, 0)]);
  });

  for (const format of ['f16', 'q8', 'q4'] as const) {
    it(`splits a ${format} table over the binding limit into 256-aligned row views (scales included)`, async () => {
      const gpu = await cappedTestGpu({ maxStorageBufferBindingSize: 4096 });
      try {
        const [vocab, dim] = [300, 64];
        const tok = table(gpu, 'tok', vocab, dim, format, 9);
        const parts = tableParts(tok.tensor, 4096);
        expect(parts.length).toBeGreaterThan(1);
        for (const p of parts) {
          expect(p.offset % 256).toBe(0);
          if (p.scales) expect(p.scales.offset % 256).toBe(0);
        }
        expect(parts.reduce((n, p) => n + (p.shape[0] as number), 0)).toBe(vocab);
        const idx = ids(12, vocab, 5);
        idx[0] = vocab - 1;
        const out = await runGraph(gpu, `embed split ${format}`, (b) => {
          b.output('y', embed(b, b.input('ids', [12], 'u32'), tok.tensor, { tokens: 12 }));
        }, { ids: idx });
        expect([...out.y!]).toEqual([...embedRef(idx, tok.values, dim, 12, null, 0)]);
      } finally {
        gpu.ctx.dispose();
      }
    });
  }

  it('rejects a position table shorter than the sequence', async () => {
    const gpu = await testGpu();
    const tok = table(gpu, 'tok', 10, 4, 'f32', 1);
    const pos = table(gpu, 'pos', 5, 4, 'f32', 2);
    const { GraphBuilder } = await import('../../../src/graph/builder.js');
    const b = new GraphBuilder(gpu.ctx.caps, 'f32');
    expect(() => embed(b, b.input('ids', [6], 'u32'), tok.tensor, { pos: pos.tensor, tokens: 6 })).toThrow(expect.objectContaining({ code: 'CHECKPOINT', key: 'pos' }));
  });
});
