import { describe, expect, it } from 'vitest';
import { NonFiniteError } from '../../../src/errors.js';
import { NO_NON_FINITE, nonFiniteCheck, readNonFinite, throwIfNonFinite } from '../../../src/kernels/nonfinite.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

const words = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

async function check(x: Float32Array): Promise<Uint32Array> {
  const out = await runGraph(await testGpu(), 'nonfinite_check', (b) => {
    b.output('flag', nonFiniteCheck(b, b.input('x', [x.length], 'f32')));
  }, { x });
  return words(out['flag']!);
}

describe('nonfinite_count', () => {
  // 2·256 + 37 elements: every thread strides more than once, the last stride partly.
  const n = 549;

  it('finds nothing in finite data, extremes included (max float, -0, subnormals)', async () => {
    const x = randomArray(n, 3, -5, 5);
    x[0] = 3.4028234663852886e38;
    x[1] = -0;
    x[2] = 1e-45;
    x[n - 1] = -3.4028234663852886e38;
    const flag = await check(x);
    expect([...flag]).toEqual([0, NO_NON_FINITE, 0]);
    expect(readNonFinite(flag)).toBeNull();
  });

  it('counts NaN, +Inf and -Inf and keeps the first index and its kind', async () => {
    const x = randomArray(n, 4);
    x[300] = Number.POSITIVE_INFINITY;
    x[77] = Number.NaN;
    x[548] = Number.NEGATIVE_INFINITY;
    x[299] = Number.NaN;
    const flag = await check(x);
    expect(readNonFinite(flag)).toEqual({ count: 4, index: 77, value: 'NaN' });
    const infOnly = randomArray(n, 5);
    infOnly[400] = Number.NEGATIVE_INFINITY;
    expect(readNonFinite(await check(infOnly))).toEqual({ count: 1, index: 400, value: '-Infinity' });
  });

  it('throwIfNonFinite raises NonFiniteError naming the tensor, phase and step', () => {
    const e = (() => {
      try {
        throwIfNonFinite(Uint32Array.of(2, 5, 0x7f800000), 'latent', 'sampling', 7);
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toMatchObject({ tensor: 'latent', phase: 'sampling', index: 5, value: 'Infinity', step: 7, count: 2 });
    expect(() => throwIfNonFinite(Uint32Array.of(0, NO_NON_FINITE, 0), 'latent', 'sampling')).not.toThrow();
  });
});
