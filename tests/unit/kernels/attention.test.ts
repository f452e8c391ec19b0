import { describe, expect, it } from 'vitest';
import { attention, seq } from '../../../src/kernels/attention.js';
import { expectClose } from '../../reference/compare.js';
import { randomArray } from '../../reference/random.js';
import { testGpu } from '../../setup/gpu.js';
import { runGraph } from '../../setup/run-graph.js';

/** softmax(scale·QKᵀ + bias, causal) V in float64; q,k,v packed [B, L, 3·heads·dh]. */
function attentionRef(qkv: Float32Array, B: number, L: number, heads: number, dh: number, scale: number, causal: boolean, bias?: Float32Array): Float64Array {
  const W = heads * dh;
  const out = new Float64Array(B * L * W);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < L; i++) {
        const s = new Float64Array(L);
        let max = -Infinity;
        for (let j = 0; j < L; j++) {
          if (causal && j > i) { s[j] = -Infinity; continue; }
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += (qkv[(b * L + i) * 3 * W + h * dh + d] as number) * (qkv[(b * L + j) * 3 * W + W + h * dh + d] as number);
          s[j] = dot * scale + (bias ? (bias[(h * L + i) * L + j] as number) : 0);
          max = Math.max(max, s[j] as number);
        }
        let sum = 0;
        for (let j = 0; j < L; j++) { s[j] = Math.exp((s[j] as number) - max); sum += s[j] as number; }
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += (s[j] as number) * (qkv[(b * L + j) * 3 * W + 2 * W + h * dh + d] as number);
          out[(b * L + i) * W + h * dh + d] = acc / sum;
        }
      }
    }
  }
  return out;
}

// f32 dot products over dh terms of inputs in [-2, 2] carry ~sqrt(dh)·1e-7 of rounding each.
const tolerance = (dh: number) => ({ atol: dh > 128 ? 1e-5 : 2e-6, rtol: 1e-5 });

describe('attention', () => {
  const cases: [number, number, number, number, boolean, boolean][] = [
    // batch, length, heads, head dim, causal, bias
    [1, 1, 1, 64, false, false],
    [2, 77, 2, 64, false, false],
    [3, 33, 3, 8, true, false],
    [1, 45, 2, 32, false, true],
    [2, 19, 1, 512, false, false],
    [1, 77, 2, 64, true, false],
    [1, 20, 1, 100, false, false],
  ];
  // Both variants on every case: the three passes (scores, softmax, P·V) CPU emulation uses, and
  // the workgroup-tiled flash kernel GPUs use (forced here by presenting the adapter as a GPU).
  for (const [B, L, heads, dh, causal, withBias] of cases) for (const variant of ['passes', 'tiled'] as const) {
    it(`${variant} variant matches the f64 reference for B=${B}, L=${L}, heads=${heads}, dh=${dh}${causal ? ', causal' : ''}${withBias ? ', bias' : ''}`, async () => {
      const gpu = await testGpu();
      const caps = { ...gpu.ctx.caps, isFallbackAdapter: variant === 'passes' };
      const W = heads * dh;
      const qkv = randomArray(B * L * 3 * W, L * 31 + dh, -2, 2);
      const bias = withBias ? randomArray(heads * L * L, 5, -3, 3) : undefined;
      const scale = withBias ? 1 : 1 / Math.sqrt(dh);
      const out = await runGraph(gpu, `attention ${B}x${L}x${heads}x${dh}`, (b) => {
        const x = b.input('qkv', [B, L, 3 * W]);
        const biasValue = bias ? b.input('bias', [heads, L, L], 'f32') : null;
        b.output('o', attention(b, { q: seq(x, 0), k: seq(x, W), v: seq(x, 2 * W), batch: B, heads, headDim: dh, qLen: L, kvLen: L, scale, causal, bias: biasValue }));
        const expected = variant === 'passes' && dh % 4 === 0 ? 'attention_pv' : 'attention';
        if (b.ops.at(-1)?.spec.name !== expected) throw new Error(`expected the ${expected} kernel, got ${b.ops.at(-1)?.spec.name}`);
      }, bias ? { qkv, bias } : { qkv }, 'f32', caps);
      expectClose(out.o!, attentionRef(qkv, B, L, heads, dh, scale, causal, bias), tolerance(dh), 'attention', [B, L, heads, dh]);
    });
  }

  it('the passes split query rows into chunks when the scores would exceed the binding cap', async () => {
    const gpu = await testGpu();
    const [B, L, heads, dh] = [2, 37, 3, 16];
    const W = heads * dh;
    // Scores of one query row of every (batch, head): 2·3·40 f32 = 960 bytes; 4 KiB holds 4 rows.
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: true, maxStorageBufferBindingSize: 4096 };
    const qkv = randomArray(B * L * 3 * W, 9, -2, 2);
    const out = await runGraph(gpu, 'attention passes in chunks', (b) => {
      const x = b.input('qkv', [B, L, 3 * W]);
      b.output('o', attention(b, { q: seq(x, 0), k: seq(x, W), v: seq(x, 2 * W), batch: B, heads, headDim: dh, qLen: L, kvLen: L, scale: 0.25, causal: true }));
      const pv = b.ops.filter((op) => op.spec.name === 'attention_pv');
      if (pv.length !== 10) throw new Error(`expected 10 chunks of 4 (or fewer) query rows, got ${pv.length}`);
    }, { qkv }, 'f32', caps);
    expectClose(out.o!, attentionRef(qkv, B, L, heads, dh, 0.25, true), tolerance(dh), 'chunked attention passes');
  });

  for (const variant of ['passes', 'tiled'] as const) it(`${variant} variant reads a stream inside a joint sequence and writes rows at an offset`, async () => {
    const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: variant === 'passes' };
    const [B, Lc, Lx, heads, dh] = [2, 5, 12, 2, 64];
    const L = Lc + Lx;
    const W = heads * dh;
    const qkv = randomArray(B * L * 3 * W, 77);
    const out = await runGraph(gpu, 'attention joint', (b) => {
      const x = b.input('qkv', [B, L, 3 * W]);
      const o = b.temp([B, L, W], 'joint out');
      // Queries of the image stream only (rows Lc..L), keys over the whole joint sequence.
      attention(b, {
        q: { value: x, rowsPerBatch: L, rowOffset: Lc, rowStride: 3 * W, col: 0 },
        k: seq(x, W), v: seq(x, 2 * W), batch: B, heads, headDim: dh, qLen: Lx, kvLen: L, scale: 0.125,
        out: { value: o, rowsPerBatch: L, rowOffset: Lc, rowStride: W, col: 0 },
      });
      b.output('o', o);
    }, { qkv }, 'f32', caps);
    const ref = attentionRef(qkv, B, L, heads, dh, 0.125, false);
    const got = out.o!;
    const pick = (a: ArrayLike<number>) => Float64Array.from({ length: B * Lx * W }, (_, i) => {
      const b = Math.floor(i / (Lx * W));
      const r = i % (Lx * W);
      return a[b * L * W + Lc * W + r] as number;
    });
    expectClose(pick(got), pick(ref), tolerance(dh), 'joint attention rows');
  });

  // A key bias of ln n on the last key is that key and its value row present n times: checked
  // against the f64 reference on the sequence with the row really repeated (the collapsed zero T5 rows).
  for (const variant of ['passes', 'tiled'] as const) it(`${variant} variant: a key bias of ln n equals the key repeated n times`, async () => {
    const gpu = await testGpu();
    const caps = { ...gpu.ctx.caps, isFallbackAdapter: variant === 'passes' };
    const [B, L, heads, dh, n] = [2, 21, 2, 64, 77];
    const W = heads * dh;
    const qkv = randomArray(B * L * 3 * W, 4242, -2, 2);
    const keyBias = new Float32Array(L);
    keyBias[L - 1] = Math.log(n);
    const out = await runGraph(gpu, 'attention key bias', (b) => {
      const x = b.input('qkv', [B, L, 3 * W]);
      const kb = b.input('keyBias', [L], 'f32');
      b.output('o', attention(b, { q: seq(x, 0), k: seq(x, W), v: seq(x, 2 * W), batch: B, heads, headDim: dh, qLen: L, kvLen: L, scale: 0.125, keyBias: kb }));
    }, { qkv, keyBias }, 'f32', caps);
    const Le = L + n - 1;
    const expanded = new Float32Array(B * Le * 3 * W);
    for (let bi = 0; bi < B; bi++) {
      for (let r = 0; r < Le; r++) {
        const src = (bi * L + Math.min(r, L - 1)) * 3 * W;
        expanded.set(qkv.subarray(src, src + 3 * W), (bi * Le + r) * 3 * W);
      }
    }
    const ref = attentionRef(expanded, B, Le, heads, dh, 0.125, false);
    const rows = Float64Array.from({ length: B * L * W }, (_, i) => {
      const bi = Math.floor(i / (L * W));
      return ref[bi * Le * W + (i % (L * W))] as number;
    });
    expectClose(out.o!, rows, tolerance(dh), 'key-biased attention');
  });

  it('refuses a full bias and a key bias together', async () => {
    const gpu = await testGpu();
    await expect(runGraph(gpu, 'attention both biases', (b) => {
      const x = b.input('qkv', [1, 4, 3 * 64]);
      const bias = b.input('bias', [1, 4, 4], 'f32');
      const kb = b.input('keyBias', [4], 'f32');
      attention(b, { q: seq(x, 0), k: seq(x, 64), v: seq(x, 128), batch: 1, heads: 1, headDim: 64, qLen: 4, kvLen: 4, scale: 1, bias, keyBias: kb });
    }, {}, 'f32')).rejects.toThrow(/keyBias/);
  });
});
