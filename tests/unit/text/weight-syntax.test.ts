import { describe, expect, it } from 'vitest';
import { padT5Pair, parseWeightedSegments, promptWords, sd3FirstWindow } from '../../../src/text/index.js';

describe('weight syntax (README §2.1–2.2)', () => {
  it('removes (word:weight) and keeps what is not syntax', () => {
    expect(promptWords('(masterpiece:1.2), best quality')).toEqual(['masterpiece', ',', 'best', 'quality']);
    expect(promptWords('(a:b)')).toEqual(['a:b']);
    expect(promptWords('(:1.2)')).toEqual([':1.2']);
    expect(promptWords('((x))')).toEqual(['x']);
    expect(promptWords('[x] y')).toEqual(['[x]', 'y']);
    expect(promptWords('(unclosed parenthesis')).toEqual(['(unclosed', 'parenthesis']);
    expect(promptWords('closed) parenthesis')).toEqual(['closed)', 'parenthesis']);
    expect(promptWords(') (x)')).toEqual([')', '(x)']); // depth −1: the `(` is text
    expect(promptWords('\\(not weighted\\) text')).toEqual(['(not', 'weighted)', 'text']);
    expect(promptWords('a\u0000\u0001b')).toEqual(['a)b']);
    expect(promptWords('(nested (weights:1.3):1.1) end')).toEqual(['nested', 'weights', 'end']);
    expect(promptWords('(a:1e1) (b: 2 ) (c:1_0) (d:x1)')).toEqual(['a', 'b', 'c', 'd:x1']);
  });

  it('splits words on U+0020 and \\n only', () => {
    expect(promptWords('a\tb\r\nc  d\n\ne\u00a0f')).toEqual(['a\tb\r', 'c', 'd', 'e\u00a0f']);
    expect(promptWords('')).toEqual([]);
    expect(promptWords(' \n ')).toEqual([]);
  });

  it('computes the reference weights', () => {
    const segments = parseWeightedSegments('a (b) ((c)) (d:0.5) (e (f):2)');
    const byText = Object.fromEntries(segments.map((s) => [s.text.trim(), s.weight]));
    expect(byText['a']).toBe(1);
    expect(byText['b']).toBeCloseTo(1.1, 12);
    expect(byText['c']).toBeCloseTo(1.21, 12);
    expect(byText['d']).toBe(0.5);
    expect(byText['e']).toBe(2);
    expect(byText['f']).toBeCloseTo(2.2, 12);
  });

  it('survives deep nesting without recursion', () => {
    const deep = '('.repeat(5000) + 'x' + ')'.repeat(5000);
    expect(promptWords(deep)).toEqual(['x']);
  });
});

describe('SD3 CLIP window (README §2.4)', () => {
  const group = (n: number, base = 100): number[] => Array.from({ length: n }, (_, i) => base + i);
  it('moves a small word that does not fit to the next window', () => {
    const groups = [...Array.from({ length: 37 }, () => group(2)), group(3)];
    const w = sd3FirstWindow(groups, 49406, 49407, 0);
    expect(w.length).toBe(77);
    expect(w[75]).toBe(49407); // 1 + 74 tokens, then the end token, then one pad
    expect(w[76]).toBe(0);
  });
  it('splits a word of ≥ 8 tokens across windows', () => {
    const w = sd3FirstWindow([group(70), group(10, 500)], 49406, 49407, 49407);
    expect(w.slice(71, 76)).toEqual([500, 501, 502, 503, 504]);
    expect(w[76]).toBe(49407);
  });
});

describe('padT5Pair', () => {
  it('pads the shorter sequence with 0', () => {
    const [a, b] = padT5Pair(new Int32Array([5, 1]), new Int32Array([7, 8, 9, 1]));
    expect(Array.from(a)).toEqual([5, 1, 0, 0]);
    expect(Array.from(b)).toEqual([7, 8, 9, 1]);
    const [c, d] = padT5Pair(new Int32Array([1, 2, 3]), new Int32Array([4]));
    expect(Array.from(c)).toEqual([1, 2, 3]);
    expect(Array.from(d)).toEqual([4, 0, 0]);
  });
});
