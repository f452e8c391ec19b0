import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createCharsmap,
  graphemeClusters,
  isLetter,
  isNumber,
  isPythonSpace,
  isWhiteSpace,
  lowercasePerCodePoint,
  nfc,
  pythonFloat,
  pythonFloatAccepts,
  sliceCodePoints,
  toWellFormed,
} from '../../../src/text/index.js';

const SHARED = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');

describe('precompiled charsmap (README §4.2.1)', () => {
  const json = JSON.parse(readFileSync(path.join(SHARED, 'tokenizers/t5xxl/tokenizer.json'), 'utf8')) as {
    normalizer: { normalizers: Array<{ type: string; precompiled_charsmap?: string }> };
  };
  const b64 = json.normalizer.normalizers.find((n) => n.type === 'Precompiled')?.precompiled_charsmap ?? '';
  const charsmap = createCharsmap(b64, 'tokenizer.json');

  it('maps the README examples', () => {
    expect(charsmap.lookup('\uff21')).toBe('A');
    expect(charsmap.lookup('\u0001')).toBe('');
    expect(charsmap.lookup('\u007f')).toBe('');
    for (const ch of ['\u00a0', '\u200b', '\u200d', '\ufeff', '\ufffd']) expect(charsmap.lookup(ch), ch).toBe(' ');
    for (const ch of ['\u0085', '\u00ad', '\u0000', 'a', 'é']) expect(charsmap.lookup(ch), ch).toBeUndefined();
  });

  it('finds multi-character keys and the shortest prefix key', () => {
    expect(charsmap.lookup('e\u0301')).toBe('é');
    expect(charsmap.lookup('\r\n')).toBe(' '); // "\r" is the shortest key
    expect(charsmap.lookup('ﬁ')).toBe('fi');
    expect(charsmap.lookup('①')).toBe('1');
  });

  it('normalizes per grapheme cluster', () => {
    expect(charsmap.normalize('ＡＢＣ')).toBe('ABC');
    expect(charsmap.normalize('a\u0001b')).toBe('ab');
    expect(charsmap.normalize('Ａ\u0301')).toBe('A'); // < 6 bytes: whole cluster replaced
    expect(charsmap.normalize('a\u0301\u0302\u0303\u0304')).toBe('a\u0301\u0302\u0303\u0304'); // ≥ 6 bytes: per code point
    expect(charsmap.normalize('x\r\ny')).toBe('x y');
    expect(charsmap.normalize('👨‍👩‍👧')).toBe('👨 👩 👧');
  });
});

describe('Unicode classes', () => {
  it('White_Space is the README set, not JavaScript \\s', () => {
    const ws = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000];
    for (const cp of ws) expect(isWhiteSpace(cp), cp.toString(16)).toBe(true);
    for (const cp of [0xfeff, 0x200b, 0x180e, 0x1c, 0x41, 0x1f600]) expect(isWhiteSpace(cp), cp.toString(16)).toBe(false);
    expect(isPythonSpace(0x1c)).toBe(true);
    expect(isPythonSpace(0x85)).toBe(true);
    expect(isPythonSpace(0xfeff)).toBe(false);
  });

  it('\\p{L} and \\p{N} follow the reference (Unicode 16), not the host', () => {
    expect(isLetter(0x61)).toBe(true);
    expect(isLetter(0x732b)).toBe(true); // 猫
    expect(isLetter(0x20000)).toBe(true);
    expect(isLetter(0x0301)).toBe(false); // combining mark
    expect(isLetter(0xa7cb)).toBe(true); // Unicode 16
    expect(isLetter(0xa7ce)).toBe(false); // Unicode 17
    expect(isLetter(0x10940)).toBe(false); // Unicode 17
    expect(isNumber(0x31)).toBe(true);
    expect(isNumber(0x2460)).toBe(true); // ①
    expect(isNumber(0x11de0)).toBe(false); // Unicode 17
  });

  it('lower-cases per code point', () => {
    expect(lowercasePerCodePoint('ΟΔΟΣ')).toBe('οδοσ');
    expect(lowercasePerCodePoint('İ')).toBe('i\u0307');
    expect(lowercasePerCodePoint('HELLO Ǆ ẞ Ω')).toBe('hello ǆ ß ω');
    expect(lowercasePerCodePoint('\ua7ce')).toBe('\ua7cf');
  });

  it('NFC treats characters unknown to Unicode 9.0 as inert', () => {
    expect(nfc('e\u0301')).toBe('é');
    expect(nfc('A\u030a')).toBe('Å');
    expect(nfc('\u1100\u1161')).toBe('가');
    expect(nfc('q\u0307\u0323')).toBe('q\u0323\u0307'); // reordered
    expect(nfc('e\u1df6\u0301')).toBe('e\u1df6\u0301'); // U+1DF6 (Unicode 10) blocks composition
    expect(nfc('\u{11935}\u{11930}')).toBe('\u{11935}\u{11930}'); // Unicode 13 composition not applied
  });

  it('grapheme clusters', () => {
    expect(graphemeClusters('a\r\nb')).toEqual(['a', '\r\n', 'b']);
    expect(graphemeClusters('e\u0301x')).toEqual(['e\u0301', 'x']);
    expect(graphemeClusters('👨‍👩‍👧🇯🇵')).toEqual(['👨‍👩‍👧', '🇯🇵']);
  });

  it('lone surrogates become U+FFFD; code point slicing', () => {
    expect(toWellFormed('a\ud800b\udc00😀')).toBe('a\ufffdb\ufffd😀');
    expect(sliceCodePoints('😀😀😀', 2)).toBe('😀😀');
    expect(sliceCodePoints('abc', 5)).toBe('abc');
  });
});

describe('Python float() acceptance (README §2.1)', () => {
  it('accepts what CPython accepts', () => {
    const ok: Array<[string, number]> = [
      ['1.2', 1.2], [' 1.5 ', 1.5], ['1e1', 10], ['-0.5', -0.5], ['+.5e-3', 0.0005], ['1.', 1], ['.5', 0.5],
      ['1_000', 1000], ['1e1_0', 1e10], ['١.٥', 1.5], ['\u00a01.5\u3000', 1.5], ['\u00851.5', 1.5],
      ['\u001c1.5\u001f', 1.5], ['\t1\n', 1],
    ];
    for (const [s, v] of ok) expect(pythonFloat(s), JSON.stringify(s)).toBe(v);
    expect(pythonFloat('inf')).toBe(Infinity);
    expect(pythonFloat('-Infinity')).toBe(-Infinity);
    expect(pythonFloat('nAn')).toBeNaN();
  });
  it('rejects what CPython rejects', () => {
    for (const s of ['', ' ', 'abc', '1_', '_1', '1__0', '1_e5', 'in_f', '.', 'e5', '1e', '1.2.3', '\ufeff1.5', '0x10', '1 2', '1\u200b', 'infinit', '++1']) {
      expect(pythonFloatAccepts(s), JSON.stringify(s)).toBe(false);
    }
  });
});
