import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClipTextEncoder } from '../../src/runtime/clip.js';
import { stackTokens } from '../../src/models/conditioning.js';
import { encodeConditioning } from '../../src/runtime/conditioning.js';
import { T5TextEncoder } from '../../src/runtime/t5.js';
import { readTensor } from '../../src/tensor/read.js';
import { createSd3Tokenizer } from '../../src/text/index.js';
import { bytesSource } from '../../src/weights/byte-source.js';
import { mergeTensorSources } from '../../src/weights/merge.js';
import { openSafetensors } from '../../src/weights/safetensors.js';
import { recordGpuRun, testGpu } from '../setup/gpu.js';
import { randomClip, randomT5 } from '../unit/models/text-checkpoints.js';

const shared = process.env.MMDIT_SHARED ?? path.resolve(process.cwd(), '../shared');
const tok = (file: string) => readFileSync(path.join(shared, 'tokenizers', file), 'utf8');

describe('prompt → SD3 conditioning', () => {
  it('gives context [2, 154, 4096] and pooled [2, 2048] from a prompt and the empty negative prompt', async () => {
    const gpu = await testGpu();
    const tokenizer = createSd3Tokenizer({ clipVocabJson: tok('clip/vocab.json'), clipMergesTxt: tok('clip/merges.txt'), t5TokenizerJson: tok('t5xxl/tokenizer.json') });
    const cond = tokenizer.tokenize('a photo of a cat wearing a tiny (wizard hat:1.2), watercolor');
    const uncond = tokenizer.tokenize('');
    expect([...uncond.clipL]).toEqual([49406, ...new Array(76).fill(49407)]);
    expect([...uncond.clipG]).toEqual([49406, 49407, ...new Array(75).fill(0)]);
    expect([...uncond.t5]).toEqual([1, ...new Array(76).fill(0)]);

    // Real vocabularies (49408 and 32128 ids) and pooled widths: CLIP-L 768 wide, CLIP-G 256 wide
    // with SD3's 1280-row projection, T5 64 wide; one layer each, as one SD3 single file.
    const l = randomClip({ vocab: 49408, positions: 77, hidden: 768, mlp: 64, layers: 1, projection: 768, prefix: 'text_encoders.clip_l.transformer.', fastTable: true, seed: 1 });
    const g = randomClip({ vocab: 49408, positions: 77, hidden: 256, mlp: 64, layers: 1, projection: 1280, prefix: 'text_encoders.clip_g.transformer.', fastTable: true, seed: 2 });
    const t = randomT5({ vocab: 32128, dModel: 64, heads: 2, dKv: 32, dFf: 128, layers: 2, buckets: 32, prefix: 'text_encoders.t5xxl.transformer.', fastTable: true, seed: 3 });
    const single = mergeTensorSources(await Promise.all([l, g, t].map((c, i) => openSafetensors(bytesSource(c.file, `part${i}`)))), 'sd3.safetensors');
    const clipL = await ClipTextEncoder.load(gpu.rt, single, { model: 'clip_l' });
    const clipG = await ClipTextEncoder.load(gpu.rt, single, { model: 'clip_g', heads: 4 });
    const t5 = await T5TextEncoder.load(gpu.rt, single);
    expect([clipL.config.heads, clipL.config.activation, clipG.config.activation, clipG.config.projectionDim]).toEqual([12, 'quick_gelu', 'gelu_erf', 1280]);
    const tokens = stackTokens([cond, uncond]);
    const result = await encodeConditioning({ clipL, clipG, t5 }, tokens, { contextDim: 4096 });
    try {
      recordGpuRun('prompt to conditioning');
      expect(result.context.shape).toEqual([2, 154, 4096]);
      expect(result.pooled.shape).toEqual([2, 2048]);
      const context = await readTensor(gpu.ctx, result.context);
      const pooled = await readTensor(gpu.ctx, result.pooled);

      // Exactly what each encoder produced, in its place.
      const { clipL: lOut, clipG: gOut, t5: t5Out } = result.encodings;
      const lSeq = await readTensor(gpu.ctx, lOut.seq);
      const lPooled = await readTensor(gpu.ctx, lOut.pooled);
      const gSeq = await readTensor(gpu.ctx, gOut.seq);
      const gPooled = await readTensor(gpu.ctx, gOut.pooled);
      const t5Seq = await readTensor(gpu.ctx, t5Out!.seq);
      expect(t5Out!.seq.shape).toEqual([2, 77, 64]);
      const row = (b: number, r: number) => context.subarray((b * 154 + r) * 4096, (b * 154 + r + 1) * 4096);
      const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
      for (let b = 0; b < 2; b++) {
        for (let r = 0; r < 77; r++) {
          const x = row(b, r);
          const y = row(b, 77 + r);
          const ok =
            same(x.subarray(0, 768), lSeq.subarray((b * 77 + r) * 768, (b * 77 + r + 1) * 768)) &&
            same(x.subarray(768, 1024), gSeq.subarray((b * 77 + r) * 256, (b * 77 + r + 1) * 256)) &&
            x.subarray(1024).every((v) => v === 0) &&
            same(y.subarray(0, 64), t5Seq.subarray((b * 77 + r) * 64, (b * 77 + r + 1) * 64)) &&
            y.subarray(64).every((v) => v === 0);
          expect(ok, `context row ${r} of batch item ${b}`).toBe(true);
        }
        expect(same(pooled.subarray(b * 2048, b * 2048 + 768), lPooled.subarray(b * 768, (b + 1) * 768)), `pooled L ${b}`).toBe(true);
        expect(same(pooled.subarray(b * 2048 + 768, (b + 1) * 2048), gPooled.subarray(b * 1280, (b + 1) * 1280)), `pooled G ${b}`).toBe(true);
      }
      expect(context.every(Number.isFinite)).toBe(true);
      // Cond and uncond rows differ (different prompts), and nothing is all zeros where encoders write.
      expect(same(row(0, 3).subarray(0, 1024), row(1, 3).subarray(0, 1024))).toBe(false);
      expect(pooled.some((v) => v !== 0)).toBe(true);
    } finally {
      result.dispose();
      clipL.dispose();
      clipG.dispose();
      t5.dispose();
    }
  });
});
