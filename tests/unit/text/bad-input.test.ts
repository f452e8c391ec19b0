import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSd3Tokenizer } from '../../../src/node/commands/tokenize.js';
import type { Sd3Tokenizer, Sd3Tokens } from '../../../src/text/index.js';

const SHARED = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');

let tokenizer: Sd3Tokenizer;
beforeAll(async () => {
  tokenizer = await loadSd3Tokenizer(path.join(SHARED, 'tokenizers'));
});

/** Shape invariants that every prompt must satisfy, whatever its content. */
function checkShapes(sd3: Sd3Tokens, diffusers: Sd3Tokens): void {
  for (const t of [sd3, diffusers]) {
    expect(t.clipL.length).toBe(77);
    expect(t.clipG.length).toBe(77);
    expect(t.clipL[0]).toBe(49406);
    expect(t.clipG[0]).toBe(49406);
    expect(t.clipL[t.eosIndex]).toBe(49407);
    expect(t.clipG[t.eosIndex]).toBe(49407);
    expect(Array.from(t.clipL).indexOf(49407)).toBe(t.eosIndex);
    for (const id of [...t.clipL, ...t.clipG]) expect(id >= 0 && id < 49408).toBe(true);
    for (const id of t.t5) expect(id >= 0 && id < 32100).toBe(true);
  }
  expect(sd3.t5.length).toBeGreaterThanOrEqual(77);
  expect(diffusers.t5.length).toBe(256);
  expect(diffusers.t5).toContain(1);
}

const CASES: Record<string, string> = {
  empty: '',
  emoji: '👨‍👩‍👧 🔥🔥 🇯🇵 ❤️ 👍🏽 \u{1fae8}',
  cjk: '一只猫坐在窗台上 東京の夜景 한국어 프롬프트 𠀀',
  control: 'a\u0000b\u0001c\u007f\u0085\u200b\u200d\ufeff\u00ad\u001c\u001f\r\n\t\v\f',
  surrogates: 'a\ud800b \udc00 \ud83d end\ud800',
  long: 'a photo of a cat, '.repeat(600).slice(0, 10_000),
  longWord: 'x'.repeat(10_000),
  longPunct: '!'.repeat(10_000),
  nested: '('.repeat(5000) + 'x' + ')'.repeat(5000),
  unbalanced: ')'.repeat(3000) + '('.repeat(3000) + ':1.2)',
  specials: '<|startoftext|><|endoftext|></s><pad><unk><extra_id_0><extra_id_99>＜pad＞',
  combining: 'a\u0301\u0302\u0303\u0304\u0305\u0306 q\u0323\u0307 \u0915\u094d\u0937',
  newScripts: '\ua7ce\ua7cf \u{10940}\u{10941} \u{11db0} \u{16ff4} \u{11935}\u{11930}',
};

describe('tokenizers never throw on prompt content', () => {
  for (const [name, text] of Object.entries(CASES)) {
    it(`${name}`, () => {
      const sd3 = tokenizer.tokenize(text);
      const diffusers = tokenizer.tokenize(text, { convention: 'diffusers' });
      checkShapes(sd3, diffusers);
    });
  }

  it('the empty prompt gives the reference negative-prompt ids (TEXT_VAE_SPEC §5)', () => {
    const t = tokenizer.tokenize('');
    expect(Array.from(t.clipL)).toEqual([49406, ...new Array<number>(76).fill(49407)]);
    expect(Array.from(t.clipG)).toEqual([49406, 49407, ...new Array<number>(75).fill(0)]);
    expect(Array.from(t.t5)).toEqual([1, ...new Array<number>(76).fill(0)]);
    expect(t.eosIndex).toBe(1);
  });

  it('a 10 000-character prompt tokenizes quickly', () => {
    for (const text of [CASES['long'] ?? '', CASES['longWord'] ?? '', CASES['cjk']?.repeat(300) ?? '']) {
      const start = performance.now();
      tokenizer.tokenize(text);
      tokenizer.tokenize(text, { convention: 'diffusers' });
      // Generous bound for slow CI machines; typically tens of milliseconds.
      expect(performance.now() - start).toBeLessThan(2000);
    }
  });

  it('T5 keeps > 77 ids for long prompts (no truncation), cut at 226 code points', () => {
    const t5 = tokenizer.tokenize('x'.repeat(10_000)).t5;
    const t5Short = tokenizer.tokenize('x'.repeat(226)).t5;
    expect(t5.length).toBeGreaterThan(77);
    expect(Array.from(t5)).toEqual(Array.from(t5Short));
    // 226 code points, not UTF-16 units: astral characters count once.
    const astral = tokenizer.tokenize('𠀀'.repeat(300)).t5;
    expect(Array.from(astral)).toEqual(Array.from(tokenizer.tokenize('𠀀'.repeat(226)).t5));
  });
});

/**
 * Word-level ids checked against Hugging Face `tokenizers` 0.23.2 (Rust) on the cases where
 * simpler implementations diverge (tokenizers README §5).
 */
describe('hard cases agree with the Rust reference', () => {
  const clip: Array<[string, number[]]> = [
    ['ΟΔΟΣ', [49406, 138, 123, 138, 112, 138, 123, 139, 481, 49407]], // final Σ → σ, not ς
    ['İstanbul', [49406, 328, 16384, 11231, 49407]], // İ → i + U+0307
    ['<|ENDOFTEXT|>', [49406, 27, 91, 40786, 18169, 91, 285, 49407]], // not the special token
    ['x<|endoftext|>y', [49406, 343, 49407, 344, 49407]],
    ['a\ua7ceb', [49406, 320, 166, 253, 493, 321, 49407]], // Unicode 17 letter: not \p{L} for the reference
    ['q\u0323\u0307', [49406, 336, 136, 96, 16384, 49407]], // marks form their own piece
    ['\u00e9\u0301', [49406, 4166, 136, 479, 49407]],
    ['a\ud800b', [49406, 320, 39802, 321, 49407]], // lone surrogate → U+FFFD
  ];
  const t5: Array<[string, number[]]> = [
    ['a\ud800b', [3, 9, 3, 115, 1]], // U+FFFD → charsmap → space
    ['a\u0301\u0302\u0303\u0304', [3, 9, 2, 1]], // ≥ 6-byte cluster: per code point
    ['Ａ\u0301', [71, 1]], // < 6-byte cluster replaced whole
    ['cat\u0085', [1712, 1]], // trailing U+0085 stripped
    ['👨‍👩‍👧', [3, 2, 3, 2, 3, 2, 1]], // ZWJ → space
    ['＜pad＞', [3, 0, 1]],
    ['a</s>b', [3, 9, 1, 3, 115, 1]],
    ['x <extra_id_0> y', [3, 226, 32099, 3, 63, 1]],
    ['\u0001', [1]],
    ['\t', [1]],
    ['a\u00adb', [3, 9, 575, 115, 1]],
    ['\u0000', [3, 2, 1]],
    ['!'.repeat(226), [3, 55, ...new Array<number>(45).fill(17065), 1]], // exact score tie
  ];
  it('CLIP', () => {
    for (const [text, ids] of clip) expect(tokenizer.clip.encodeText(text), JSON.stringify(text)).toEqual(ids);
  });
  it('T5', () => {
    for (const [text, ids] of t5) expect(tokenizer.t5.encodeText(text), JSON.stringify(text)).toEqual(ids);
  });
});
