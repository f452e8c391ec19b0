/**
 * Unicode helpers shared by the CLIP and T5 tokenizers (tokenizers README §2–§4).
 *
 * The reference is Hugging Face `tokenizers` (Rust). Its Unicode data does not come from one
 * Unicode version, and neither Node's nor a browser's ICU matches all of them, so the classes
 * whose version matters are carried here as small generated tables:
 *
 * - `\p{L}` / `\p{N}` of the CLIP pre-tokenizer regex run in Oniguruma (onig_sys 69.9.x bundles
 *   kkos/oniguruma 94877ac, Unicode 16.0): `LETTER_RANGES` / `NUMBER_RANGES` are its `CR_L` /
 *   `CR_N` (src/unicode_property_data.c). Node 20 with ICU 78 already knows Unicode 17 letters
 *   (e.g. U+A7CE, U+10940…) that the reference treats as unassigned punctuation.
 * - NFC comes from `unicode-normalization-alignments` 0.1.12, whose tables are Unicode 9.0.
 *   Characters that are normalization-relevant today (combining class ≠ 0, canonical
 *   decomposition, or part of a canonical composition) but unknown to those tables are inert
 *   starters for the reference: `NFC9_INERT_RANGES` lists them (derived from the crate's
 *   tables.rs against Unicode 17; Hangul excluded, it is algorithmic in both).
 * - Lower-casing is Rust `char::to_lowercase` (Unicode 17 in current Rust), one code point at a
 *   time: `LOWERCASE_RUNS` is the simple lowercase mapping of Unicode 17 (U+0130 is the one
 *   unconditional multi-character mapping and is handled in code), so the result does not depend
 *   on the host's ICU.
 * - Grapheme clusters (T5 charsmap, README §4.2.1) come from `unicode-segmentation` 1.13
 *   (Unicode 17); `Intl.Segmenter` implements the same UAX #29 rules.
 *
 * Range tables are base-36 numbers separated by commas: alternating (gap since the previous
 * range's end + 1, length − 1). Lowercase runs are `start delta.count.delta.stride`.
 */
const LETTER_RANGES = [
  '1t,p,6,p,1b,0,a,0,4,0,5,m,1,u,1,cp,4,b,e,4,7,0,1,0,3l,4,1,1,2,3,1,0,6,0,1,2,1,0,1,j,1,2a,1,3u,8,',
  '4l,1,11,2,0,6,14,1z,q,4,3,19,16,z,1,1,2q,1,0,f,1,7,1,a,2,2,0,g,0,1,t,t,2g,b,0,o,w,9,1,4,0,5,l,4,',
  '0,9,0,3,0,n,o,7,a,5,n,1,5,h,15,1m,1h,3,0,i,0,7,9,f,f,4,7,2,1,2,l,1,6,1,0,3,3,3,0,g,0,d,1,1,2,e,1',
  ',a,0,8,5,4,1,2,l,1,6,1,1,1,1,1,1,v,3,1,0,j,2,g,8,1,2,1,l,1,6,1,1,1,4,3,0,i,0,f,1,n,0,b,7,2,1,2,l',
  ',1,6,1,1,1,4,3,0,u,1,1,2,f,0,h,0,1,5,3,2,1,3,3,1,1,0,1,1,3,1,3,2,3,b,m,0,1g,7,1,2,1,m,1,f,3,0,q,',
  '2,2,0,2,1,u,0,4,7,1,2,1,m,1,9,1,4,3,0,v,1,1,1,f,1,h,8,1,2,1,14,2,0,g,0,5,2,8,2,o,5,5,h,3,n,1,8,1',
  ',0,2,6,1m,1b,1,1,c,6,1m,1,1,0,1,4,1,n,1,0,1,9,1,1,9,0,2,4,1,0,l,3,w,0,1r,7,1,z,r,4,37,16,k,0,g,5',
  ',4,3,3,0,3,1,7,2,4,c,c,0,h,11,1,0,5,0,2,16,1,98,1,3,2,6,1,0,1,3,2,14,1,3,2,w,1,3,2,6,1,0,1,3,2,e',
  ',1,1k,1,3,2,1u,11,f,g,2d,2,5,3,h7,2,g,1,p,5,22,6,7,7,h,d,i,e,h,e,c,1,2,f,1f,z,0,4,0,1v,2g,7,4,2,',
  'x,1,0,5,1x,a,u,1d,t,2,4,b,17,4,p,1i,m,9,1g,2a,0,2l,1a,h,7,1i,t,d,1,a,17,q,z,15,2,a,z,2,a,5,16,2,',
  '2,15,3,1,5,1,1,3,0,5,5b,1s,7p,2,5,2,11,2,5,2,7,1,0,1,0,1,0,1,u,2,1g,1,6,1,0,3,2,1,6,3,3,2,5,4,c,',
  '5,2,1,6,38,0,d,0,g,c,2t,0,4,0,2,9,1,0,3,4,6,0,1,0,1,0,1,3,1,a,2,3,5,4,4,0,1g,1,22j,6c,6,3,3,1,c,',
  '11,1,0,5,0,2,1j,7,0,g,m,9,6,1,6,1,6,1,6,1,6,1,6,1,6,1,6,28,0,d1,1,16,4,5,1,4,2d,6,2,1,2h,1,3,5,1',
  '6,1,2l,h,v,1c,f,e8,533,1s,h3g,1v,19,2,7g,3,f,a,1,k,1a,g,u,2,1x,1d,8,2,2u,2,1u,2,1,1,0,1,7,l,f,1,',
  '2,1,3,1,m,t,1f,e,1d,1q,5,3,0,1,1,b,r,a,m,p,s,7,1a,s,0,g,4,1,9,a,4,1,14,n,2,1,7,k,m,3,0,3,1d,1,0,',
  '3,1,2,4,2,0,1,0,o,2,2,a,7,2,c,5,2,5,2,5,9,6,1,6,1,16,1,d,6,36,t,8mb,c,m,4,1c,6is,a5,2,2x,12,6,c,',
  '4,5,0,1,9,1,c,1,4,1,0,1,1,1,1,1,2z,x,a2,i,1r,2,1h,14,b,38,4,1,3q,10,p,6,p,b,2g,3,5,2,5,2,5,2,2,z',
  ',b,1,p,1,i,1,1,1,e,2,d,y,3e,at,s,3,1c,1b,v,d,j,1,7,6,11,a,t,2,z,4,7,1c,4d,i,z,4,z,4,13,8,1f,c,a,',
  '1,e,1,6,1,1,1,a,1,e,1,6,1,1,3,1f,c,8m,9,l,a,7,o,5,1,15,1,8,1x,5,2,0,1,17,1,1,3,0,2,m,a,m,9,u,1t,',
  'i,1,1,a,l,a,p,1y,1j,6,1,1s,0,f,3,1,2,1,s,16,s,3,s,z,7,1,r,r,1h,a,l,a,i,d,h,32,20,1j,1e,d,1e,d,z,',
  '12,r,9,m,6y,15,6,1,g,2,1n,s,a,0,8,l,16,h,1a,k,r,m,c,1g,1l,1,2,0,d,18,w,o,q,z,t,0,2,0,8,y,3,0,c,1',
  'b,e,3,l,0,1,0,z,h,1,o,j,1,1r,6,1,0,1,3,1,e,1,9,7,1a,12,7,2,1,2,l,1,6,1,1,1,4,3,0,i,0,c,4,u,9,1,0',
  ',2,0,1,11,1,0,p,0,1,0,18,1g,i,3,k,2,u,1b,k,1,1,0,54,1a,15,3,10,1b,k,0,1n,16,d,0,1z,q,11,6,55,17,',
  '38,1r,v,7,2,0,2,7,1,1,1,n,f,0,1,0,2m,7,2,12,g,0,1,0,s,0,a,13,7,0,l,0,b,19,j,0,i,20,5j,w,v,8,1,10',
  ',h,0,1d,t,34,6,1,1,1,11,l,0,p,5,1,1,1,v,e,0,93,i,f,0,1,c,1,x,3g,0,27,pl,6e,5f,218,2o,f,tr,h,5,p,',
  '32y,5,g6,5a1,t,1cy,fs,7,u,h,26,h,t,i,1b,g,3,v,k,5,i,c0,18,5v,1r,3k,22,5,0,1u,c,1s,1,1,0,s,4qf,8,',
  'yd,15,9,6w7,3,1,6,1,1,1,82,f,0,t,2,2,0,e,3,8,az,1s4,2y,5,c,3,8,7,9,4me,2c,1,1y,1,1,2,0,2,1,2,3,1',
  ',b,1,0,1,6,1,1s,1,3,2,7,1,6,1,r,1,3,1,4,1,0,3,6,1,9f,2,o,1,o,1,u,1,o,1,u,1,o,1,u,1,o,1,u,1,o,1,7',
  ',1f8,u,6,5,79,1p,42,18,a,6,g,0,8x,t,i,17,dg,r,6c,t,2,0,dr,6,1,3,1,1,1,e,1,5g,1n,1v,7,0,xg,3,1,q,',
  '1,1,1,0,2,0,1,9,1,3,1,0,1,0,6,0,4,0,1,0,1,0,1,2,1,1,1,0,2,0,1,0,1,0,1,0,1,0,1,1,1,0,2,3,1,6,1,3,',
  '1,3,1,0,1,9,1,g,5,2,1,4,1,g,3es,wyn,w,37d,6,65,2,4g1,e,5rk,f,h9,1wi,f1,15u,3t6,5,38f',
].join('');

const NUMBER_RANGES = [
  '1c,9,3c,1,5,0,2,2,141,9,3q,9,5i,9,bg,9,3a,9,4,5,30,9,3a,9,3a,9,2,5,32,c,37,9,8,6,2v,9,2w,6,7,i,3',
  '1,9,2o,9,3a,9,1y,j,7g,9,1y,9,jz,j,oh,2,6n,9,6,9,m,9,8c,9,3k,a,4l,9,6,9,52,9,2e,9,3q,9,6,9,t2,0,3',
  ',5,6,9,5i,1e,2,4,k6,1n,26,l,hi,t,12h,0,ll,0,p,8,e,2,9j,3,3u,9,u,7,1,e,w,9,13,e,msg,9,58,9,8w,5,4',
  'a,9,12,9,5i,9,m,9,2e,9,ba,9,geu,9,dp,18,c,1k,h,1,9h,q,10,3,t,0,8,0,3q,4,5m,9,q6,7,p,6,13,8,23,4,',
  'm,5,4g,1,2,f,2,19,1s,8,1g,1,u,2,23,4,2w,7,o,7,15,6,96,5,1c,9,6,9,7q,u,4e,9,16,3,34,6,3q,t,3k,9,1',
  'o,9,40,9,7,j,6z,9,9i,9,3a,9,ae,9,2u,9,6,j,24,b,bo,i,2l,9,ie,9,2e,s,6b,9,1y,9,bq,9,2u,k,tn,32,c01',
  ',9,1t2,9,2e,9,3q,9,1,6,em,9,7a,m,imx,9,152,j,c,j,30,o,ut,1d,1ts,9,bq,9,dy,9,6v,9,jw,8,3k,9,lz,1m',
  ',1,2,1,3,24,18,1,e,qq,c,25f,9',
].join('');

const NFC9_INERT_RANGES = [
  '1kt,0,49,8,16,9,8a,0,fx,0,72,1,al,0,1ne,0,q1,u,2,b,lm,4,rap,0,iho,0,8,0,7,0,9,0,1fj,3,1t,4,8t,1,',
  '25,1,1,2,1y,a,1d,3,6i,0,ju,0,1y,3,5,0,2,0,1,1,12,0,2,0,6,0,2,0,1,2,4,2,3x,0,re,1,6t,0,4,0,2,0,4,',
  '1,4,0,4c,0,2b,0,i,0,29,0,iw,0,1,1,29,0,bt,1,d0b,b,5,0,2er,0,3,3,hx,1,m8t,0,4g,6,af,0,1p,3,e4,3,7',
  '2,1,6r,0,2,0,7,1,5,0',
].join('');

const LOWERCASE_RUNS = [
  '1t.q.w.1,3j.n.w.1,o.7.w.1,14.o.1.2,1e.3.1.2,7.8.1.2,h.n.1.2,1a.1.-3d.1,1.3.1.2,8.1.5u.1,1.2.1.2,',
  '4.1.5q.1,1.1.1.1,2.2.5p.1,2.1.1.1,3.1.27.1,1.1.5m.1,1.1.5n.1,1.1.1.1,2.1.5p.1,1.1.5r.1,2.1.5v.1,',
  '1.1.5t.1,1.1.1.1,4.1.5v.1,1.1.5x.1,2.1.5y.1,1.3.1.2,6.1.62.1,1.1.1.1,2.1.62.1,3.1.1.1,2.1.62.1,1',
  '.1.1.1,2.2.61.1,2.2.1.2,4.1.63.1,1.1.1.1,4.1.1.1,8.1.2.1,1.1.1.1,2.1.2.1,1.1.1.1,2.1.2.1,1.9.1.2',
  ',j.9.1.2,j.1.2.1,1.2.1.2,4.1.-2p.1,1.1.-1k.1,1.k.1.2,14.1.-3m.1,2.9.1.2,o.1.8bv.1,1.1.1.1,2.1.-4',
  'j.1,1.1.8bs.1,3.1.1.1,2.1.-5f.1,1.1.1x.1,1.1.1z.1,1.5.1.2,8a.2.1.2,6.1.1.1,9.1.38.1,7.1.12.1,2.3',
  '.11.1,4.1.1s.1,2.2.1r.1,3.h.w.1,i.9.w.1,18.1.8.1,9.c.1.2,s.1.-1o.1,3.1.1.1,2.1.-7.1,1.1.1.1,3.3.',
  '-3m.1,3.g.28.1,g.w.w.1,28.h.1.2,16.r.1.2,1i.1.f.1,1.7.1.2,f.1c.1.2,2p.12.1c.1,29b.12.5ls.1,13.1.',
  '5ls.1,6.1.5ls.1,k3.28.tzk.1,28.6.8.1,1p5.1.1.1,7.17.-2bk.1,19.3.-2bk.1,8z.23.1.2,4e.1.-5vj.1,2.1',
  'c.1.2,2w.8.-8.1,g.6.-8.1,g.8.-8.1,g.8.-8.1,g.6.-8.1,h.4.-8.2,f.8.-8.1,w.8.-8.1,g.8.-8.1,g.8.-8.1',
  ',g.2.-8.1,2.2.-22.1,2.1.-9.1,c.4.-2e.1,4.1.-9.1,c.2.-8.1,2.2.-2s.1,e.2.-8.1,2.2.-34.1,2.1.-7.1,c',
  '.2.-3k.1,2.2.-3i.1,2.1.-9.1,8a.1.-5st.1,4.1.-6gv.1,1.1.-6di.1,7.1.s.1,1a.g.g.1,z.1.1.1,mr.q.q.1,',
  '1fu.1c.1c.1,2o.1.1.1,2.1.-8af.1,1.1.-2xy.1,1.1.-89z.1,3.3.1.2,6.1.-8bg.1,1.1.-8al.1,1.1.-8bj.1,1',
  '.1.-8bi.1,2.1.1.1,3.1.1.1,9.2.-8cf.1,2.1e.1.2,2z.2.1.2,7.1.1.1,nym.n.1.2,1s.e.1.2,4i.7.1.2,g.v.1',
  '.2,1z.2.1.2,4.1.-r9g.1,1.5.1.2,d.1.1.1,2.1.-wmg.1,3.2.1.2,6.a.1.2,k.1.-wn8.1,1.1.-wnj.1,1.1.-wnf',
  '.1,1.1.-wn5.1,1.1.-wn8.1,2.1.-wlu.1,1.1.-wmi.1,1.1.-wlx.1,1.1.ps.1,1.8.1.2,g.1.-1c.1,1.1.-wn7.1,',
  '1.1.-raw.1,1.2.1.2,4.1.-wo7.1,1.8.1.2,g.1.-wu9.1,p.1.1.1,h7w.q.w.1,yn.14.14.1,4w.10.14.1,5c.b.13',
  '.1,c.f.13.1,g.7.13.1,8.2.13.1,1d8.1f.1s.1,5s.m.w.1,28g.w.w.1,gww.w.w.1,2o.p.r.1,o68.y.y.1',
].join('');

// ---------------------------------------------------------------------------------------------
// Range tables

function decodeRanges(encoded: string): Uint32Array {
  const parts = encoded.split(',');
  const out = new Uint32Array(parts.length);
  let prevEnd = -1;
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const start = prevEnd + 1 + parseInt(parts[i] ?? '0', 36);
    const end = start + parseInt(parts[i + 1] ?? '0', 36);
    out[i] = start;
    out[i + 1] = end;
    prevEnd = end;
  }
  return out;
}

/** Binary search in a flat, sorted `[start0, end0, start1, end1, …]` list (inclusive ends). */
function inRanges(ranges: Uint32Array, cp: number): boolean {
  let lo = 0;
  let hi = (ranges.length >>> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (cp < (ranges[2 * mid] ?? 0)) hi = mid - 1;
    else if (cp > (ranges[2 * mid + 1] ?? 0)) lo = mid + 1;
    else return true;
  }
  return false;
}

let letterRanges: Uint32Array | undefined;
let numberRanges: Uint32Array | undefined;
let nfcInertRanges: Uint32Array | undefined;

const CLASS_LETTER = 1;
const CLASS_NUMBER = 2;
const CLASS_WHITE = 4;
/** Class bits for the BMP, built on first use from the range tables. */
let bmpClasses: Uint8Array | undefined;

function fillClass(table: Uint8Array, ranges: Uint32Array, bit: number): void {
  for (let i = 0; i < ranges.length; i += 2) {
    const start = ranges[i] ?? 0;
    if (start > 0xffff) break;
    const end = Math.min(ranges[i + 1] ?? 0, 0xffff);
    for (let cp = start; cp <= end; cp++) table[cp] = (table[cp] ?? 0) | bit;
  }
}

function letters(): Uint32Array {
  return (letterRanges ??= decodeRanges(LETTER_RANGES));
}

function numbers(): Uint32Array {
  return (numberRanges ??= decodeRanges(NUMBER_RANGES));
}

function classes(): Uint8Array {
  if (bmpClasses === undefined) {
    const table = new Uint8Array(0x10000);
    fillClass(table, letters(), CLASS_LETTER);
    fillClass(table, numbers(), CLASS_NUMBER);
    fillClass(table, WHITE_SPACE_RANGES, CLASS_WHITE);
    bmpClasses = table;
  }
  return bmpClasses;
}

/**
 * Unicode White_Space (README §3.2): U+0009–000D, 0020, 0085, 00A0, 1680, 2000–200A, 2028,
 * 2029, 202F, 205F, 3000. Not U+FEFF, U+200B, U+180E (JavaScript's `\s` differs on these).
 * Same set as Oniguruma's `\s`, Rust's `char::is_whitespace` and the `regex` crate's `\s`.
 */
const WHITE_SPACE_RANGES = new Uint32Array([
  0x09, 0x0d, 0x20, 0x20, 0x85, 0x85, 0xa0, 0xa0, 0x1680, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029,
  0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
]);

export function isWhiteSpace(cp: number): boolean {
  return cp <= 0xffff && ((classes()[cp] ?? 0) & CLASS_WHITE) !== 0;
}

/** `\p{L}` as the reference's regex engine sees it (Unicode 16.0). */
export function isLetter(cp: number): boolean {
  if (cp <= 0xffff) return ((classes()[cp] ?? 0) & CLASS_LETTER) !== 0;
  return inRanges(letters(), cp);
}

/** `\p{N}` as the reference's regex engine sees it (Unicode 16.0). */
export function isNumber(cp: number): boolean {
  if (cp <= 0xffff) return ((classes()[cp] ?? 0) & CLASS_NUMBER) !== 0;
  return inRanges(numbers(), cp);
}

// ---------------------------------------------------------------------------------------------
// Strings

/**
 * Replaces lone UTF-16 surrogates with U+FFFD. The reference receives strings through bindings
 * that do the same (README §3, "Lone UTF-16 surrogates"), and TextEncoder would too.
 */
export function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** Python-style `text[:n]`: the first `n` code points (README §2, T5 gets `text[:226]`). */
export function sliceCodePoints(s: string, n: number): string {
  let units = 0;
  let count = 0;
  while (units < s.length && count < n) {
    const c = s.charCodeAt(units);
    units += c >= 0xd800 && c <= 0xdbff && units + 1 < s.length && isLowSurrogate(s.charCodeAt(units + 1)) ? 2 : 1;
    count++;
  }
  return units >= s.length ? s : s.slice(0, units);
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

let lowercaseMap: Map<number, number> | undefined;

function lowercaseTable(): Map<number, number> {
  if (lowercaseMap === undefined) {
    const map = new Map<number, number>();
    let start = 0;
    for (const run of LOWERCASE_RUNS.split(',')) {
      const [startDelta, count, delta, stride] = run.split('.').map((x) => parseInt(x, 36));
      start += startDelta ?? 0;
      for (let i = 0; i < (count ?? 0); i++) {
        const cp = start + i * (stride ?? 1);
        map.set(cp, cp + (delta ?? 0));
      }
    }
    lowercaseMap = map;
  }
  return lowercaseMap;
}

/**
 * Lower-cases code point by code point like Rust's `char::to_lowercase` (README §3.2): no
 * context, so a final `Σ` becomes `σ` (U+03C3), and `İ` becomes `i` + U+0307.
 * `String.prototype.toLowerCase` would apply the Final_Sigma rule.
 */
export function lowercasePerCodePoint(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s.toLowerCase();
  const table = lowercaseTable();
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0x41 && cp <= 0x5a) out += String.fromCharCode(cp + 32);
    else if (cp < 0x80) out += ch;
    else if (cp === 0x130) out += 'i\u0307';
    else {
      const lower = table.get(cp);
      out += lower === undefined ? ch : String.fromCodePoint(lower);
    }
  }
  return out;
}

/**
 * NFC as the reference computes it (Unicode 9.0 tables, see the header). Characters in
 * `NFC9_INERT_RANGES` are starters that neither decompose nor compose for the reference, so they
 * cut the string into pieces that are normalized independently; inside a piece every character
 * has the same normalization properties in Unicode 9.0 and in the host's version (Unicode
 * stability policy), so the host's `normalize('NFC')` gives the reference's answer.
 */
export function nfc(s: string): string {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) < 0x300) i++;
  // Code points below U+0300 are NFC-stable starters that compose with nothing before them.
  if (i === s.length) return s;
  const inert = (nfcInertRanges ??= decodeRanges(NFC9_INERT_RANGES));
  let out = '';
  let pieceStart = 0;
  let cut = false;
  for (let j = 0; j < s.length; ) {
    const cp = s.codePointAt(j) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    if (cp >= 0x300 && inRanges(inert, cp)) {
      out += s.slice(pieceStart, j).normalize('NFC') + s.slice(j, j + width);
      pieceStart = j + width;
      cut = true;
    }
    j += width;
  }
  return cut ? out + s.slice(pieceStart).normalize('NFC') : s.normalize('NFC');
}

let segmenter: Intl.Segmenter | null | undefined;

function graphemeSegmenter(): Intl.Segmenter | null {
  if (segmenter === undefined) {
    segmenter = typeof Intl !== 'undefined' && typeof Intl.Segmenter === 'function'
      ? new Intl.Segmenter(undefined, { granularity: 'grapheme' })
      : null;
  }
  return segmenter;
}

/**
 * Extended grapheme clusters (UAX #29), as `unicode-segmentation`'s `graphemes(true)` gives
 * them to the T5 charsmap normalizer (README §4.2.1). ASCII-only text needs no segmenter: its
 * only multi-character cluster is CR LF (rule GB3).
 */
export function graphemeClusters(s: string): string[] {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    const out: string[] = [];
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) === 0x0d && s.charCodeAt(i + 1) === 0x0a) {
        out.push('\r\n');
        i++;
      } else out.push(s.charAt(i));
    }
    return out;
  }
  const seg = graphemeSegmenter();
  if (seg !== null) return Array.from(seg.segment(s), (x) => x.segment);
  // Hosts without Intl.Segmenter: code point plus following marks/ZWJ/variation selectors, an
  // approximation that agrees with UAX #29 on ordinary text.
  return s.match(/\r\n|\P{M}(?:[\p{M}\u200d\ufe00-\ufe0f]|\u200d\P{M})*|\p{M}/gsu) ?? [];
}

// ---------------------------------------------------------------------------------------------
// Python float() acceptance (README §2.1)

/**
 * Python's `str.isspace` (README §2.1: includes U+001C–U+001F and U+0085, excludes U+FEFF).
 */
export function isPythonSpace(cp: number): boolean {
  return (cp >= 0x1c && cp <= 0x1f) || isWhiteSpace(cp);
}

/** Value of a Unicode decimal digit (`\p{Nd}`), or -1. Digits come in runs of ten from 0. */
function decimalValue(cp: number): number {
  const isNd = (c: number): boolean => /\p{Nd}/u.test(String.fromCodePoint(c));
  if (!isNd(cp)) return -1;
  let start = cp;
  while (start > 0 && isNd(start - 1)) start--;
  return (cp - start) % 10;
}

const PY_FLOAT = /^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$/i;

/**
 * `float(s)` as CPython evaluates it, or `undefined` where it raises: Unicode decimal digits
 * map to ASCII, surrounding whitespace is stripped, `_` is allowed only between two digits,
 * `inf`/`infinity`/`nan` in any case, optional sign and exponent.
 */
export function pythonFloat(s: string): number | undefined {
  let ascii = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x7f) ascii += isPythonSpace(cp) ? ' ' : ch;
    else if (isPythonSpace(cp)) ascii += ' ';
    else {
      const digit = decimalValue(cp);
      if (digit < 0) return undefined;
      ascii += String.fromCharCode(0x30 + digit);
    }
  }
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  for (let i = 0; i < ascii.length; i++) {
    if (ascii[i] === '_' && !(isDigit(ascii[i - 1]) && isDigit(ascii[i + 1]))) return undefined;
  }
  const body = ascii.replace(/^ +| +$/g, '').replace(/_/g, '');
  if (!PY_FLOAT.test(body)) return undefined;
  const lower = body.toLowerCase();
  const sign = lower.startsWith('-') ? -1 : 1;
  if (lower.includes('inf')) return sign * Infinity;
  if (lower.includes('nan')) return NaN;
  return Number(body);
}

/** Whether Python's `float()` accepts `s`. */
export function pythonFloatAccepts(s: string): boolean {
  return pythonFloat(s) !== undefined;
}
