import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError } from '../../../src/errors.js';
import { loadSd3Tokenizer } from '../../../src/node/commands/tokenize.js';
import { CLIP_G_PAD, createClipTokenizer, createT5Tokenizer, type Sd3Tokenizer } from '../../../src/text/index.js';
import { createCharsmap } from '../../../src/text/t5-unigram.js';
import { parseWeightedSegments, promptWords } from '../../../src/text/weight-syntax.js';
import { SHARED_DIR } from '../weights/helpers.js';
import { fuzzParser } from './harness.js';
import { applyBytes, applyJson, applyString, byteMutations, jsonMutations, stringMutations } from './mutate.js';

const TOKENIZERS = path.join(SHARED_DIR, 'tokenizers');
const PROMPT = 'a (photo:1.2) of a [cat] sitting on a windowsill, 東京の夜景 \\(wide\\) 👍🏽 <|endoftext|>';

/**
 * Small but valid tokenizer files cut from the real ones, so one case costs milliseconds: the
 * first 200 CLIP merges with every vocabulary entry they and the byte symbols need, and T5 with
 * its first 300 pieces (the charsmap kept whole).
 */
function smallClip(): { vocab: Record<string, number>; merges: string } {
  const vocab = JSON.parse(readFileSync(path.join(TOKENIZERS, 'clip/vocab.json'), 'utf8')) as Record<string, number>;
  const lines = readFileSync(path.join(TOKENIZERS, 'clip/merges.txt'), 'utf8').split('\n');
  const merges = lines.slice(0, 201);
  const small = Object.fromEntries(Object.entries(vocab).filter(([, id]) => id < 512 + 200 || id >= 49406));
  return { vocab: small, merges: merges.join('\n') + '\n' };
}

function smallT5(): Record<string, unknown> {
  const json = JSON.parse(readFileSync(path.join(TOKENIZERS, 't5xxl/tokenizer.json'), 'utf8')) as Record<string, unknown> & { model: { vocab: unknown[] }; added_tokens: unknown[] };
  return { ...json, added_tokens: json.added_tokens.slice(0, 5), model: { ...json.model, vocab: json.model.vocab.slice(0, 300) } };
}

const CLIP = smallClip();
const CLIP_VOCAB = JSON.stringify(CLIP.vocab);
const T5 = smallT5();
const T5_WITHOUT_CHARSMAP = { ...T5, normalizer: null };
const T5_TEXT = JSON.stringify(T5);
const CHARSMAP = ((T5['normalizer'] as { normalizers: { precompiled_charsmap?: string }[] }).normalizers[0]?.precompiled_charsmap) ?? '';
const CHARSMAP_BYTES = Uint8Array.from(atob(CHARSMAP), (c) => c.charCodeAt(0));

function useClip(vocabJson: string, mergesTxt: string): void {
  const clip = createClipTokenizer({ vocabJson, mergesTxt });
  clip.encodeSd3(PROMPT, CLIP_G_PAD);
  clip.encodeDiffusers(PROMPT, CLIP_G_PAD);
  clip.encodeText(PROMPT);
}

function useT5(tokenizerJson: string): void {
  const t5 = createT5Tokenizer({ tokenizerJson });
  t5.encodeSd3(PROMPT);
  t5.encodeDiffusers(PROMPT);
}

describe('fuzz: tokenizer files (CLIP vocab.json and merges.txt, T5 tokenizer.json and charsmap)', () => {
  it('the unmutated small files build working tokenizers', () => {
    useClip(CLIP_VOCAB, CLIP.merges);
    useT5(T5_TEXT);
  });

  it('CLIP vocab.json mutations: parse or MmditError, no hang', async () => {
    // Mutations are the generated values (applied inside the case), so a counterexample prints
    // as a few mutations rather than a whole file.
    const input = fc.oneof(fc.record({ json: jsonMutations }), fc.record({ text: stringMutations }));
    await fuzzParser('CLIP vocab.json', 1801, input, (m) =>
      useClip('json' in m ? (JSON.stringify(applyJson(CLIP.vocab, m.json)) ?? '') : applyString(CLIP_VOCAB, m.text), CLIP.merges),
    );
  });

  it('CLIP merges.txt mutations: parse or MmditError, no hang', async () => {
    await fuzzParser('CLIP merges.txt', 1802, stringMutations, (m) => useClip(CLIP_VOCAB, applyString(CLIP.merges, m)));
  });

  it('T5 tokenizer.json mutations: parse or MmditError, no hang', async () => {
    // The structure is mutated without the 200 KB charsmap (so the mutations land in the
    // normalizer, pre-tokenizer, model and added tokens); the text with it.
    const input = fc.oneof(fc.record({ json: jsonMutations }), fc.record({ text: stringMutations }));
    await fuzzParser('T5 tokenizer.json', 1803, input, (m) =>
      useT5('json' in m ? (JSON.stringify(applyJson(T5_WITHOUT_CHARSMAP, m.json)) ?? '') : applyString(T5_TEXT, m.text)),
    );
  });

  it('T5 precompiled charsmap mutations: parse or MmditError, no hang', async () => {
    const input = fc.oneof(fc.record({ bytes: byteMutations }), fc.record({ text: stringMutations }));
    await fuzzParser('T5 charsmap', 1804, input, (m) => {
      const b64 = 'bytes' in m ? Buffer.from(applyBytes(CHARSMAP_BYTES, m.bytes)).toString('base64') : applyString(CHARSMAP, m.text);
      createCharsmap(b64, 'tokenizer.json').normalize(PROMPT + ' ｶﾀｶﾅ ﬁ ① Ⅻ');
    });
  });
});

describe('fuzz: prompts through the SD3 tokenizers and the weight syntax', () => {
  let tokenizer: Sd3Tokenizer;
  beforeAll(async () => {
    tokenizer = await loadSd3Tokenizer(TOKENIZERS);
  });

  const prompts = fc.oneof(
    stringMutations.map((m) => applyString(PROMPT, m)),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: fc.constantFrom('(', ')', ':', '\\', '1', '.', '-', 'e', 'a', ' ', '\u0000', '\u0001', '\u0002'), maxLength: 300 }),
  );

  it('tokenize: every prompt gives the fixed shapes, in both conventions', async () => {
    const lengths = fc.option(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -10, max: 600 }) }, { weight: 1, arbitrary: fc.constantFrom(Number.NaN, 1.5, 2 ** 31, 1e9, Infinity) }));
    await fuzzParser('SD3 tokenize (prompts)', 1805, fc.tuple(prompts, lengths), ([prompt, t5MaxLength]) => {
      const sd3 = tokenizer.tokenize(prompt);
      expect(sd3.clipL.length).toBe(77);
      expect(sd3.t5.length).toBeGreaterThanOrEqual(77);
      const diffusers = tokenizer.tokenize(prompt, { convention: 'diffusers', ...(t5MaxLength === null ? {} : { t5MaxLength }) });
      expect(diffusers.clipG.length).toBe(77);
      expect(diffusers.t5.length).toBe(t5MaxLength ?? 256);
    });
  });

  it('weight syntax: every prompt splits into segments and words', async () => {
    await fuzzParser('weight syntax (prompts)', 1806, prompts, (prompt) => {
      const segments = parseWeightedSegments(prompt);
      for (const s of segments) expect(Number.isNaN(s.weight)).toBe(false);
      promptWords(prompt);
    });
  });
});

describe('tokenizer files: inputs the fuzzer found', () => {
  it('a charsmap with base64 padding in the wrong place is a FileFormatError, not a DOMException', () => {
    // fast-check's shrunk counterexample: the first five characters of the charsmap deleted.
    expect(() => createCharsmap(applyString(CHARSMAP, [{ op: 'delete', at: 0, length: 2 }, { op: 'delete', at: 0, length: 3 }]), 't.json')).toThrow(FileFormatError);
    expect(() => createCharsmap('AA=', 't.json')).toThrow(/not valid base64/);
  });
});
