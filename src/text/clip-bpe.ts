/**
 * CLIP byte-level BPE, as Hugging Face `tokenizers` runs CLIPTokenizerFast (tokenizers README
 * §3), with SD3's 77-token window (§2.4) and the diffusers convention (§2, "diffusers").
 * CLIP-L and CLIP-G share the vocabulary; they differ only in the pad id.
 */
import { FileFormatError, InvalidArgumentError } from '../errors.js';
import { isLetter, isNumber, isWhiteSpace, lowercasePerCodePoint, nfc, toWellFormed } from './normalize.js';
import { promptWords } from './weight-syntax.js';

export const CLIP_BOS = 49406;
export const CLIP_EOS = 49407;
export const CLIP_CONTEXT = 77;
/** CLIP-L pads with the end token, CLIP-G (`SDXLClipGTokenizer`) with 0, i.e. `!` (§2.5). */
export const CLIP_L_PAD = CLIP_EOS;
export const CLIP_G_PAD = 0;

const START_TEXT = '<|startoftext|>';
const END_TEXT = '<|endoftext|>';
const END_OF_WORD = '</w>';
/** `SDTokenizer.max_word_length`: groups this long may be split across windows (§2.4). */
const LARGE_WORD = 8;
const CACHE_LIMIT = 20_000;
/** Merge pairs are keyed `left * PAIR_SHIFT + right`; ids must stay below it (exact in float64). */
const PAIR_SHIFT = 2 ** 26;

export interface ClipTokenizerFiles {
  readonly vocabJson: string;
  readonly mergesTxt: string;
  /** Names used in error messages (default `vocab.json`, `merges.txt`). */
  readonly fileNames?: { readonly vocab?: string; readonly merges?: string };
}

/** A fixed-length id window and its pooling position (first `49407`, README §2.6). */
export interface ClipWindow {
  readonly ids: Int32Array;
  readonly eosIndex: number;
}

export interface ClipTokenizer {
  /** HF behaviour: `[49406] + ids + [49407]`, no truncation or padding. */
  encodeText(text: string): number[];
  /** SD3 reference: weight syntax removed, per-word, first 77-token window (§2.1–2.6). */
  encodeSd3(text: string, padId: number): ClipWindow;
  /** diffusers: `[49406] + first 75 ids + [49407]`, padded to 77 (§2, "diffusers"). */
  encodeDiffusers(text: string, padId: number): ClipWindow;
}

/** GPT-2 `bytes_to_unicode` (§3.4): printable bytes map to themselves, the other 68 to U+0100…. */
function byteToUnicode(): string[] {
  const table: string[] = new Array<string>(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
}

function parseVocab(json: string, file: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new FileFormatError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new FileFormatError(file, 'expected a JSON object mapping tokens to ids');
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= PAIR_SHIFT) {
      throw new FileFormatError(file, `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected an integer in [0, 2^26)`);
    }
    vocab.set(token, id);
  }
  return vocab;
}

interface MergeTable {
  /** `(left, right)` id pair → rank. */
  readonly rank: Map<number, number>;
  /** `(left, right)` id pair → id of the merged token. */
  readonly merged: Map<number, number>;
}

function parseMerges(text: string, vocab: Map<string, number>, file: string, vocabFile: string): MergeTable {
  const rank = new Map<number, number>();
  const merged = new Map<number, number>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let r = 0;
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] ?? '').replace(/\r$/, '');
    // HF skips `#version` header lines; ranks count the merges only (§3.5).
    if (line.startsWith('#version')) continue;
    const parts = line.split(' ');
    const [a, b] = parts;
    if (parts.length !== 2 || a === undefined || b === undefined) {
      throw new FileFormatError(file, `line ${n + 1}: expected two tokens separated by one space`);
    }
    const aId = vocab.get(a);
    const bId = vocab.get(b);
    const newId = vocab.get(a + b);
    if (aId === undefined || bId === undefined || newId === undefined) {
      const missing = aId === undefined ? a : bId === undefined ? b : a + b;
      throw new FileFormatError(file, `line ${n + 1}: token ${JSON.stringify(missing)} is not in ${vocabFile}`);
    }
    const key = aId * PAIR_SHIFT + bId;
    rank.set(key, r);
    merged.set(key, newId);
    r++;
  }
  return { rank, merged };
}

/**
 * Binary min-heap of merge candidates ordered by (rank, position), as `Word::merge_all` orders
 * them; an entry is packed as `rank * 2^26 + position` (ranks and positions stay below 2^26).
 */
class MergeQueue {
  private readonly heap: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(rank: number, pos: number): void {
    const heap = this.heap;
    const entry = rank * PAIR_SHIFT + pos;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] ?? 0;
      if (p <= entry) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  /** Removes the minimum; returns [rank, position]. */
  pop(): readonly [number, number] {
    const heap = this.heap;
    const top = heap[0] ?? 0;
    const last = heap.pop() ?? 0;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (heap[r] ?? 0) < (heap[l] ?? 0) ? r : l;
        const child = heap[c] ?? 0;
        if (child >= last) break;
        heap[i] = child;
        i = c;
      }
      heap[i] = last;
    }
    const rank = Math.floor(top / PAIR_SHIFT);
    return [rank, top - rank * PAIR_SHIFT];
  }
}

export function createClipTokenizer(files: ClipTokenizerFiles): ClipTokenizer {
  const vocabFile = files.fileNames?.vocab ?? 'vocab.json';
  const mergesFile = files.fileNames?.merges ?? 'merges.txt';
  if (typeof files.vocabJson !== 'string' || files.vocabJson.length === 0) {
    throw new FileFormatError(vocabFile, 'missing or empty');
  }
  if (typeof files.mergesTxt !== 'string' || files.mergesTxt.length === 0) {
    throw new FileFormatError(mergesFile, 'missing or empty');
  }
  const vocab = parseVocab(files.vocabJson, vocabFile);
  const merges = parseMerges(files.mergesTxt, vocab, mergesFile, vocabFile);

  // Byte-level symbols: every byte, alone and as the last symbol of a word (`</w>`), must have
  // an id, so no input can reach the unknown path (§3.5: "Unknown never happens").
  const byteChars = byteToUnicode();
  const byteId = new Int32Array(256);
  const byteEndId = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const ch = byteChars[b] ?? '';
    const id = vocab.get(ch);
    const endId = vocab.get(ch + END_OF_WORD);
    if (id === undefined || endId === undefined) {
      throw new FileFormatError(vocabFile, `byte-level symbol ${JSON.stringify(id === undefined ? ch : ch + END_OF_WORD)} is missing`);
    }
    byteId[b] = id;
    byteEndId[b] = endId;
  }
  const bosId = vocab.get(START_TEXT);
  const eosId = vocab.get(END_TEXT);
  if (bosId === undefined || eosId === undefined) {
    throw new FileFormatError(vocabFile, `special token ${bosId === undefined ? START_TEXT : END_TEXT} is missing`);
  }
  const bos: number = bosId;
  const eos: number = eosId;

  const encoder = new TextEncoder();
  const cache = new Map<string, readonly number[]>();

  /** BPE of one pre-tokenized piece (§3.4–3.5), HF `Word::merge_all` step for step. */
  function bpe(piece: string): readonly number[] {
    const hit = cache.get(piece);
    if (hit !== undefined) return hit;
    const bytes = encoder.encode(piece);
    const n = bytes.length;
    const sym = new Int32Array(n);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const b = bytes[i] ?? 0;
      sym[i] = i === n - 1 ? (byteEndId[b] ?? 0) : (byteId[b] ?? 0);
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
      alive[i] = 1;
    }
    const queue = new MergeQueue();
    const offer = (pos: number, right: number): void => {
      const rank = merges.rank.get((sym[pos] ?? 0) * PAIR_SHIFT + (sym[right] ?? 0));
      if (rank !== undefined) queue.push(rank, pos);
    };
    for (let i = 0; i + 1 < n; i++) offer(i, i + 1);
    while (queue.size > 0) {
      const [rank, pos] = queue.pop();
      if (alive[pos] === 0) continue;
      const right = next[pos] ?? -1;
      if (right < 0) continue;
      // Skip stale entries: the pair at `pos` must still be the one queued. A rank names one
      // merge, so an equal rank means the same pair and the same merged token (HF compares
      // the merged id).
      const key = (sym[pos] ?? 0) * PAIR_SHIFT + (sym[right] ?? 0);
      if (merges.rank.get(key) !== rank) continue;
      sym[pos] = merges.merged.get(key) ?? 0;
      alive[right] = 0;
      const after = next[right] ?? -1;
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos] ?? -1;
      if (before >= 0) offer(before, pos);
      if (after >= 0) offer(pos, after);
    }
    const ids: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i] ?? -1) ids.push(sym[i] ?? 0);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(piece, ids);
    return ids;
  }

  /**
   * Pre-tokenizer regex (§3.3), scanned by hand so that `\p{L}`/`\p{N}` follow the reference's
   * Unicode tables: `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|
   * [^\s\p{L}\p{N}]+`, alternatives tried in order at each position, whitespace dropped.
   */
  function pushPieces(text: string, out: number[], limit: number): void {
    let i = 0;
    while (i < text.length && out.length < limit) {
      const cp = text.codePointAt(i) ?? 0;
      const width = cp > 0xffff ? 2 : 1;
      if (isWhiteSpace(cp)) {
        i += width;
        continue;
      }
      let end: number;
      if (text.startsWith(START_TEXT, i)) end = i + START_TEXT.length;
      else if (text.startsWith(END_TEXT, i)) end = i + END_TEXT.length;
      else if (cp === 0x27 /* ' */ && contraction(text, i) > 0) end = i + contraction(text, i);
      else if (isLetter(cp)) {
        end = i + width;
        while (end < text.length) {
          const c = text.codePointAt(end) ?? 0;
          if (!isLetter(c)) break;
          end += c > 0xffff ? 2 : 1;
        }
      } else if (isNumber(cp)) end = i + width;
      else {
        end = i + width;
        while (end < text.length) {
          const c = text.codePointAt(end) ?? 0;
          if (isWhiteSpace(c) || isLetter(c) || isNumber(c)) break;
          end += c > 0xffff ? 2 : 1;
        }
      }
      for (const id of bpe(text.slice(i, end))) out.push(id);
      i = end;
    }
  }

  /** Normalizer (§3.2): NFC, every White_Space run → one space, per-code-point lowercase. */
  function normalize(segment: string): string {
    let s = nfc(segment);
    let collapsed = '';
    let inSpace = false;
    let plain = true;
    for (const ch of s) {
      if (isWhiteSpace(ch.codePointAt(0) ?? 0)) {
        if (!inSpace) collapsed += ' ';
        if (inSpace || ch !== ' ') plain = false;
        inSpace = true;
      } else {
        collapsed += ch;
        inSpace = false;
      }
    }
    if (!plain) s = collapsed;
    return lowercasePerCodePoint(s);
  }

  /**
   * Ids without the start/end tokens. Special strings are cut out first, un-normalized (§3.1).
   * Pieces are encoded independently, so stopping once `limit` ids exist gives a prefix of the
   * full result (callers that truncate need no more).
   */
  function encodeIds(text: string, limit = Infinity): number[] {
    const s = toWellFormed(text);
    const out: number[] = [];
    let segmentStart = 0;
    let i = s.indexOf('<|', 0);
    while (i >= 0) {
      const special = s.startsWith(START_TEXT, i) ? START_TEXT : s.startsWith(END_TEXT, i) ? END_TEXT : undefined;
      if (special !== undefined) {
        if (i > segmentStart) pushPieces(normalize(s.slice(segmentStart, i)), out, limit);
        out.push(special === START_TEXT ? bos : eos);
        segmentStart = i + special.length;
        i = s.indexOf('<|', segmentStart);
      } else {
        i = s.indexOf('<|', i + 1);
      }
    }
    if (segmentStart < s.length && out.length < limit) pushPieces(normalize(s.slice(segmentStart)), out, limit);
    return out;
  }

  // CLIP-L and CLIP-G tokenize the same prompt back to back; keep the last word groups.
  let lastText: string | undefined;
  let lastGroups: readonly (readonly number[])[] = [];

  /** Per-word ids of a prompt (README §2 steps 1–3), as far as the first window needs them. */
  function wordGroups(text: string): readonly (readonly number[])[] {
    if (text === lastText) return lastGroups;
    const groups: number[][] = [];
    let total = 0;
    for (const word of promptWords(toWellFormed(text))) {
      const group = encodeIds(word);
      groups.push(group);
      total += group.length;
      // Only the first window is used (§2.4): once the words seen hold more tokens than it,
      // the window is decided and the rest of the prompt cannot change it.
      if (total > CLIP_CONTEXT) break;
    }
    lastText = text;
    lastGroups = groups;
    return groups;
  }

  function window(ids: ArrayLike<number>, padId: number): ClipWindow {
    const out = new Int32Array(CLIP_CONTEXT).fill(padId);
    for (let i = 0; i < ids.length && i < CLIP_CONTEXT; i++) out[i] = ids[i] ?? padId;
    return { ids: out, eosIndex: firstMaxIndex(out) };
  }

  return {
    encodeText(text: string): number[] {
      return [bos, ...encodeIds(text), eos];
    },

    encodeSd3(text: string, padId: number): ClipWindow {
      checkPad(padId);
      return window(sd3FirstWindow(wordGroups(text), bos, eos, padId), padId);
    },

    encodeDiffusers(text: string, padId: number): ClipWindow {
      checkPad(padId);
      const ids = encodeIds(text, CLIP_CONTEXT - 2).slice(0, CLIP_CONTEXT - 2);
      return window([bos, ...ids, eos], padId);
    },
  };
}

/** Length of the contraction starting at `i` (`'s|'t|'re|'ve|'m|'ll|'d`), or 0. */
function contraction(text: string, i: number): number {
  const a = text.charCodeAt(i + 1);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  const b = text.charCodeAt(i + 2);
  if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return 3; // re ve ll
  return 0;
}

function checkPad(padId: number): void {
  if (!Number.isInteger(padId) || padId < 0 || padId > 0x7fffffff) {
    throw new InvalidArgumentError('padId', 'an integer token id ≥ 0', padId);
  }
}

/** Index of the first occurrence of the largest id (`argmax`, README §2.6). */
export function firstMaxIndex(ids: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < ids.length; i++) if ((ids[i] ?? 0) > (ids[best] ?? 0)) best = i;
  return best;
}

/**
 * SD3 window rule (README §2.4, `SDTokenizer.tokenize_with_weights` with `max_length` 77),
 * returning only the first batch: word groups are appended whole while they fit in 76; a group
 * that does not fit closes the batch (`[49407]` + pads) and moves to the next, unless it has
 * ≥ 8 tokens, in which case it fills the batch to 76 and continues in the next.
 */
export function sd3FirstWindow(
  groups: readonly (readonly number[])[],
  bos: number,
  eos: number,
  padId: number,
  maxLength = CLIP_CONTEXT,
): number[] {
  const batch: number[] = [bos];
  for (const group of groups) {
    const isLarge = group.length >= LARGE_WORD;
    let rest = group;
    while (rest.length > 0) {
      if (rest.length + batch.length > maxLength - 1) {
        const remaining = maxLength - batch.length - 1;
        if (isLarge) {
          batch.push(...rest.slice(0, remaining), eos);
        } else {
          batch.push(eos);
          for (let i = 0; i < remaining; i++) batch.push(padId);
        }
        return batch;
      }
      batch.push(...rest);
      rest = [];
    }
  }
  batch.push(eos);
  while (batch.length < maxLength) batch.push(padId);
  return batch;
}
