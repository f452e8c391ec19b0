/**
 * SD3's prompt-weight syntax and word splitting (tokenizers README §2 steps 1–2; Stability AI
 * `sd3.5/other_impls.py`: `escape_important`, `parse_parentheses`, `token_weights`,
 * `unescape_important`, and the word loop of `SDTokenizer.tokenize_with_weights`).
 *
 * The weights are computed for completeness but SD3 ignores them (`encode_token_weights` only
 * passes the tokens on); what matters is that the syntax is removed.
 */
import { pythonFloat } from './normalize.js';

export interface WeightedSegment {
  readonly text: string;
  readonly weight: number;
}

/** `\)` → U+0000 U+0001 and `\(` → U+0000 U+0002, so escaped parentheses are plain text. */
export function escapeImportant(text: string): string {
  return text.replaceAll('\\)', '\0\u0001').replaceAll('\\(', '\0\u0002');
}

/** The inverse; a literal U+0000 U+0001 in the prompt therefore also becomes `)` (README §2.1). */
export function unescapeImportant(text: string): string {
  return text.replaceAll('\0\u0001', ')').replaceAll('\0\u0002', '(');
}

/**
 * `parse_parentheses`: split `text[start, end)` at top-level parentheses. Every item is a
 * contiguous substring, returned as [start, end) pairs. `(` at depth 0 starts a new item; `)`
 * that brings the depth back to 0 ends one (including the `)`); an unmatched `)` makes the depth
 * negative and stays text, and a later `(` at depth −1 is text too.
 */
function parseParentheses(text: string, start: number, end: number): Array<readonly [number, number]> {
  const items: Array<readonly [number, number]> = [];
  let itemStart = start;
  let depth = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x28 /* ( */) {
      if (depth === 0) {
        if (i > itemStart) items.push([itemStart, i]);
        itemStart = i;
      }
      depth++;
    } else if (c === 0x29 /* ) */) {
      depth--;
      if (depth === 0) {
        items.push([itemStart, i + 1]);
        itemStart = i + 1;
      }
    }
  }
  if (end > itemStart) items.push([itemStart, end]);
  return items;
}

type Work =
  | { readonly kind: 'parse'; readonly start: number; readonly end: number; readonly weight: number }
  | { readonly kind: 'emit'; readonly start: number; readonly end: number; readonly weight: number };

/**
 * `token_weights(escape_important(text), 1.0)` with each segment unescaped. Iterative, so deeply
 * nested parentheses cannot overflow the stack (the tokenizers never throw on prompt content).
 */
export function parseWeightedSegments(text: string): WeightedSegment[] {
  const escaped = escapeImportant(text);
  const out: WeightedSegment[] = [];
  const stack: Work[] = [{ kind: 'parse', start: 0, end: escaped.length, weight: 1.0 }];
  while (stack.length > 0) {
    const work = stack.pop();
    if (work === undefined) break;
    if (work.kind === 'emit') {
      out.push({ text: unescapeImportant(escaped.slice(work.start, work.end)), weight: work.weight });
      continue;
    }
    const next: Work[] = [];
    for (const [s, e] of parseParentheses(escaped, work.start, work.end)) {
      if (e - s >= 2 && escaped.charCodeAt(s) === 0x28 && escaped.charCodeAt(e - 1) === 0x29) {
        // `(inner)`: weight ×1.1 unless `inner` ends in `:<float>` (last `:` not at index 0).
        let innerEnd = e - 1;
        let weight = work.weight * 1.1;
        const colon = escaped.lastIndexOf(':', innerEnd - 1);
        if (colon > s + 1) {
          const value = pythonFloat(escaped.slice(colon + 1, innerEnd));
          if (value !== undefined) {
            weight = value;
            innerEnd = colon;
          }
        }
        next.push({ kind: 'parse', start: s + 1, end: innerEnd, weight });
      } else {
        next.push({ kind: 'emit', start: s, end: e, weight: work.weight });
      }
    }
    for (let i = next.length - 1; i >= 0; i--) {
      const item = next[i];
      if (item !== undefined) stack.push(item);
    }
  }
  return out;
}

/** Words of one segment: `\n` → space, split on U+0020 only, empty strings dropped (§2.2). */
export function splitSegmentWords(segment: string): string[] {
  return segment.replaceAll('\n', ' ').split(' ').filter((w) => w !== '');
}

/** All words of a prompt, in order, after the weight syntax is removed (README §2 steps 1–2). */
export function promptWords(text: string): string[] {
  const words: string[] = [];
  for (const segment of parseWeightedSegments(text)) words.push(...splitSegmentWords(segment.text));
  return words;
}
