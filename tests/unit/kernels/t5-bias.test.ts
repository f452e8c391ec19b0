import { describe, expect, it } from 'vitest';
import { t5PositionBias } from '../../../src/kernels/t5-bias.js';
import { distanceBuckets, relativePositionBucket } from '../../../src/models/t5/relative-position.js';
import { encodeF16, toFloat32 } from '../../../src/weights/decode.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { f32Weight, runGraph, uploadWeight } from '../../setup/run-graph.js';

describe('t5_bias', () => {
  const shapes: [number, number, number, number][] = [[1, 1, 1, 32], [3, 7, 13, 32], [2, 150, 150, 32], [5, 20, 9, 8]];
  for (const [heads, qLen, kvLen, buckets] of shapes) {
    it(`expands an f16 table [${buckets}, ${heads}] into [${heads}, ${qLen}, ${kvLen}] exactly`, async () => {
      const gpu = await testGpu();
      const bytes = encodeF16(randomArray(buckets * heads, heads * qLen, -3, 3));
      const values = toFloat32(bytes, 'F16');
      const table = uploadWeight(gpu, 'rel', [buckets, heads], 'f16', bytes);
      const out = await runGraph(gpu, `t5_bias ${heads}x${qLen}x${kvLen}`, (b) => {
        const bk = b.constant('buckets', [qLen + kvLen - 1], 'u32', distanceBuckets(qLen, kvLen, buckets, 128));
        b.output('bias', t5PositionBias(b, bk, table, { qLen, kvLen }));
      }, {});
      const ref = new Float32Array(heads * qLen * kvLen);
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < qLen; i++) {
          for (let j = 0; j < kvLen; j++) ref[(h * qLen + i) * kvLen + j] = values[relativePositionBucket(j - i, buckets, 128) * heads + h] as number;
        }
      }
      expect([...out.bias!]).toEqual([...ref]);
    });
  }

  it('reads an f32 table', async () => {
    const gpu = await testGpu();
    const values = randomArray(32 * 2, 1);
    const out = await runGraph(gpu, 't5_bias f32', (b) => {
      const bk = b.constant('buckets', [9], 'u32', distanceBuckets(5, 5, 32, 128));
      b.output('bias', t5PositionBias(b, bk, f32Weight(gpu, 'rel', [32, 2], values), { qLen: 5, kvLen: 5 }));
    }, {});
    expect(out.bias![1 * 25 + 0 * 5 + 4]).toBe(values[relativePositionBucket(4, 32, 128) * 2 + 1]);
  });
});
