import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../../src/errors.js';
import { bucketMatrix, distanceBuckets, relativePositionBucket } from '../../../../src/models/t5/relative-position.js';
import { t5BucketFloat64 } from '../../../reference/text-encoders.js';

const shared = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');

describe('T5 relative position buckets', () => {
  it('gives TEXT_VAE_SPEC §4 table for 32 buckets, max distance 128', () => {
    const f = (m: number) => relativePositionBucket(-m, 32, 128);
    const table: [number, number, number][] = [[0, 7, -1], [8, 11, 8], [12, 15, 9], [16, 22, 10], [23, 31, 11], [32, 45, 12], [46, 63, 13], [64, 90, 14], [91, 1000, 15]];
    for (const [lo, hi, bucket] of table) {
      for (let m = lo; m <= hi; m++) expect(f(m), `|n| = ${m}`).toBe(bucket < 0 ? m : bucket);
    }
    expect(relativePositionBucket(5, 32, 128)).toBe(21);
    expect(relativePositionBucket(0, 32, 128)).toBe(0);
  });

  it('puts the exact edges (m = 16, 32, 64, 128) in the upper bucket', () => {
    expect([16, 32, 64, 128].map((m) => relativePositionBucket(-m, 32, 128))).toEqual([10, 12, 14, 15]);
    expect([15, 31, 63, 127].map((m) => relativePositionBucket(-m, 32, 128))).toEqual([9, 11, 13, 15]);
  });

  it('agrees with the float64 formula for other bucket counts and distances', () => {
    for (const nb of [8, 16, 32, 64, 128]) {
      for (const md of [20, 64, 100, 128, 256, 1000]) {
        if (md <= nb / 4) continue;
        for (let n = -600; n <= 600; n++) expect(relativePositionBucket(n, nb, md), `nb ${nb} md ${md} n ${n}`).toBe(t5BucketFloat64(n, nb, md));
      }
    }
  });

  for (const [name, t] of [['prompt_a', 77], ['long_100', 100]] as const) {
    it(`matches the reference bucket matrix of t5/${name} (${t}×${t}) exactly`, () => {
      const file = readFileSync(path.join(shared, 'vectors', 'text_vae', 't5', name, 'buckets.bin'));
      const ref = new Int32Array(file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength));
      expect([...bucketMatrix(t, t, 32, 128)]).toEqual([...ref]);
    });
  }

  it('lays out one bucket per distance from −(qLen−1) to kvLen−1', () => {
    const d = distanceBuckets(3, 5, 32, 128);
    expect(d.length).toBe(7);
    expect([...d]).toEqual([-2, -1, 0, 1, 2, 3, 4].map((n) => relativePositionBucket(n, 32, 128)));
  });

  it('rejects a max distance not above num_buckets/4', () => {
    expect(() => distanceBuckets(2, 2, 32, 8)).toThrow(InvalidArgumentError);
  });
});
