/**
 * T5 SentencePiece unigram tokenizer as Hugging Face `tokenizers` runs T5TokenizerFast from
 * `tokenizer.json` (tokenizers README §4), with SD3's T5 rule (§2, §2.7) and the diffusers
 * convention (256 ids).
 *
 * Pipeline for one input: added (special) tokens are cut out of the raw text; every other
 * segment is normalized (charsmap, strip right, ` {2,}` → `▁`), pre-tokenized (Metaspace) and
 * each piece is encoded by Viterbi; the post-processor appends `</s>`.
 */
import { FileFormatError, InvalidArgumentError } from '../errors.js';
import { graphemeClusters, isWhiteSpace, sliceCodePoints, toWellFormed } from './normalize.js';
import { promptWords } from './weight-syntax.js';

export const T5_PAD = 0;
/** SD3 pads T5 ids with 0 up to at least this length, never truncating (§2.7). */
export const T5_SD3_MIN_LENGTH = 77;
/** SD3 gives T5 `text[:226]`, in code points (§2). */
export const T5_SD3_MAX_CODE_POINTS = 226;
/** diffusers' `max_sequence_length` default. */
export const T5_DIFFUSERS_LENGTH = 256;
/** sentencepiece/HF `K_UNK_PENALTY`: an unknown character scores `min_score − 10`. */
const UNK_PENALTY = 10.0;

export interface T5TokenizerFiles {
  readonly tokenizerJson: string;
  /** Name used in error messages (default `tokenizer.json`). */
  readonly fileName?: string;
}

export interface T5Tokenizer {
  /** HF behaviour: ids + `[</s>]`, no truncation or padding. */
  encodeText(text: string): number[];
  /** SD3 reference: `text[:226]`, weight syntax removed, per word, `+[1]`, pad 0 to ≥ 77. */
  encodeSd3(text: string): Int32Array;
  /** diffusers: whole prompt, first `maxLength − 1` ids + `[1]`, pad 0 to `maxLength` (256). */
  encodeDiffusers(text: string, maxLength?: number): Int32Array;
}

// ---------------------------------------------------------------------------------------------
// Precompiled charsmap (README §4.2.1): a darts-clone double-array trie over UTF-8 keys plus a
// blob of NUL-terminated replacements, applied per grapheme cluster as HF's
// `normalizers/precompiled.rs` does.

const CACHE_LIMIT = 20_000;

export interface Charsmap {
  /** Normalizes a whole string (cluster by cluster). */
  normalize(text: string): string;
  /** Replacement of the shortest key that is a prefix of `text`'s UTF-8 bytes, if any. */
  lookup(text: string): string | undefined;
}

function decodeBase64(b64: string, file: string): Uint8Array {
  const clean = b64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new FileFormatError(file, 'precompiled_charsmap is not valid base64');
  }
  let binary: string;
  try {
    binary = atob(clean);
  } catch {
    // The pattern above admits some strings atob refuses (padding in the wrong place).
    throw new FileFormatError(file, 'precompiled_charsmap is not valid base64');
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Builds the charsmap from the base64 `precompiled_charsmap` of tokenizer.json. */
export function createCharsmap(base64: string, file: string): Charsmap {
  const bytes = decodeBase64(base64, file);
  if (bytes.length === 0) {
    return { normalize: (text) => text, lookup: () => undefined };
  }
  if (bytes.length < 4) throw new FileFormatError(file, 'precompiled_charsmap is shorter than its 4-byte header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Bytes 0–3: trie size in bytes (little-endian), then the 32-bit units, then the blob.
  const trieBytes = view.getUint32(0, true);
  if (trieBytes % 4 !== 0 || trieBytes === 0 || 4 + trieBytes > bytes.length) {
    throw new FileFormatError(file, `precompiled_charsmap trie size ${trieBytes} does not fit its ${bytes.length} bytes`);
  }
  const units = new Uint32Array(trieBytes / 4);
  for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + 4 * i, true);
  const blob = bytes.subarray(4 + trieBytes);
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const replacements = new Map<number, string>();

  const unitOffset = (u: number): number => (u >>> 10) << ((u & 0x200) >>> 6);

  /** darts-clone `commonPrefixSearch`, first (shortest) match only: its blob offset, or -1. */
  function firstMatch(key: Uint8Array): number {
    let pos = unitOffset(units[0] ?? 0);
    for (let i = 0; i < key.length; i++) {
      const c = key[i] ?? 0;
      pos ^= c;
      const u = units[pos];
      if (u === undefined || (u & 0x800000ff) !== c) return -1;
      pos ^= unitOffset(u);
      if (((u >>> 8) & 1) === 1) return (units[pos] ?? 0) & 0x7fffffff;
    }
    return -1;
  }

  function replacement(offset: number): string {
    let text = replacements.get(offset);
    if (text === undefined) {
      let end = offset;
      while (end < blob.length && blob[end] !== 0) end++;
      text = decoder.decode(blob.subarray(offset, end));
      replacements.set(offset, text);
    }
    return text;
  }

  function lookup(text: string): string | undefined {
    const offset = firstMatch(encoder.encode(text));
    return offset < 0 ? undefined : replacement(offset);
  }

  const clusterCache = new Map<string, string>();

  /**
   * A cluster of fewer than 6 UTF-8 bytes with a key as prefix becomes that key's replacement
   * as a whole (the rest of the cluster is dropped — the reference does exactly this);
   * otherwise each code point is looked up alone and kept when it is not a key. An empty
   * replacement deletes.
   */
  function normalizeCluster(cluster: string): string {
    const cached = clusterCache.get(cluster);
    if (cached !== undefined) return cached;
    let out: string | undefined;
    if (encoder.encode(cluster).length < 6) out = lookup(cluster);
    if (out === undefined) {
      out = '';
      for (const ch of cluster) out += lookup(ch) ?? ch;
    }
    if (clusterCache.size >= CACHE_LIMIT) clusterCache.clear();
    clusterCache.set(cluster, out);
    return out;
  }

  return {
    lookup,
    normalize(text: string): string {
      let out = '';
      for (const cluster of graphemeClusters(text)) out += normalizeCluster(cluster);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json reading

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type NormalizerStep =
  | { readonly kind: 'charsmap'; readonly charsmap: Charsmap }
  | { readonly kind: 'strip'; readonly left: boolean; readonly right: boolean }
  | { readonly kind: 'replace'; readonly pattern: RegExp; readonly content: string };

interface MetaspaceConfig {
  readonly replacement: string;
  readonly prepend: 'always' | 'first' | 'never';
  readonly split: boolean;
}

interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
}

function readNormalizer(node: Json | undefined, file: string, steps: NormalizerStep[]): void {
  if (node === null || node === undefined) return;
  if (!isObject(node)) throw new FileFormatError(file, 'normalizer is not an object');
  switch (node['type']) {
    case 'Sequence': {
      const list = node['normalizers'];
      if (!Array.isArray(list)) throw new FileFormatError(file, 'normalizer Sequence has no "normalizers" list');
      for (const child of list) readNormalizer(child, file, steps);
      return;
    }
    case 'Precompiled': {
      const map = node['precompiled_charsmap'];
      if (map === null || map === undefined) return;
      if (typeof map !== 'string') throw new FileFormatError(file, 'precompiled_charsmap is not a base64 string');
      steps.push({ kind: 'charsmap', charsmap: createCharsmap(map, file) });
      return;
    }
    case 'Strip':
      steps.push({ kind: 'strip', left: node['strip_left'] === true, right: node['strip_right'] === true });
      return;
    case 'Replace': {
      const pattern = node['pattern'];
      const content = node['content'];
      if (!isObject(pattern) || typeof content !== 'string') {
        throw new FileFormatError(file, 'Replace normalizer needs "pattern" and "content"');
      }
      const regex = pattern['Regex'];
      const literal = pattern['String'];
      if (typeof regex !== 'string' && typeof literal !== 'string') {
        throw new FileFormatError(file, 'Replace pattern is neither a "Regex" nor a "String"');
      }
      let re: RegExp;
      try {
        re = typeof regex === 'string' ? new RegExp(regex, 'gu') : new RegExp(String(literal).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gu');
      } catch (e) {
        throw new FileFormatError(file, `Replace pattern unsupported (${e instanceof Error ? e.message : String(e)})`);
      }
      steps.push({ kind: 'replace', pattern: re, content });
      return;
    }
    default:
      throw new FileFormatError(file, `unsupported normalizer type ${JSON.stringify(node['type'])}`);
  }
}

function readPreTokenizer(node: Json | undefined, file: string): MetaspaceConfig | undefined {
  if (node === null || node === undefined) return undefined;
  if (!isObject(node)) throw new FileFormatError(file, 'pre_tokenizer is not an object');
  if (node['type'] === 'Sequence') {
    const list = node['pretokenizers'];
    if (Array.isArray(list) && list.length === 1) return readPreTokenizer(list[0], file);
    throw new FileFormatError(file, 'only a single Metaspace pre-tokenizer is supported');
  }
  if (node['type'] !== 'Metaspace') {
    throw new FileFormatError(file, `unsupported pre_tokenizer type ${JSON.stringify(node['type'])}`);
  }
  const replacement = node['replacement'];
  if (typeof replacement !== 'string' || Array.from(replacement).length !== 1) {
    throw new FileFormatError(file, 'Metaspace replacement must be one character');
  }
  const scheme = node['prepend_scheme'];
  const prepend =
    scheme === 'always' || scheme === 'first' || scheme === 'never'
      ? scheme
      : node['add_prefix_space'] === false
        ? 'never'
        : 'always';
  return { replacement, prepend, split: node['split'] !== false };
}

interface UnigramModel {
  readonly pieces: readonly string[];
  readonly scores: Float64Array;
  readonly tokenToId: Map<string, number>;
  readonly unkId: number;
  readonly unkScore: number;
  /** Code point trie: children per node, piece id per node (−1: none). */
  readonly children: Array<Map<number, number>>;
  readonly nodePiece: number[];
}

function readModel(node: Json | undefined, file: string): UnigramModel {
  if (!isObject(node) || node['type'] !== 'Unigram') {
    throw new FileFormatError(file, 'model.type must be "Unigram"');
  }
  const vocab = node['vocab'];
  if (!Array.isArray(vocab) || vocab.length === 0) throw new FileFormatError(file, 'model.vocab must be a non-empty list');
  const unkId = node['unk_id'];
  if (typeof unkId !== 'number' || !Number.isInteger(unkId) || unkId < 0 || unkId >= vocab.length) {
    throw new FileFormatError(file, 'model.unk_id must index model.vocab');
  }
  const pieces: string[] = [];
  const scores = new Float64Array(vocab.length);
  const tokenToId = new Map<string, number>();
  const children: Array<Map<number, number>> = [new Map()];
  const nodePiece: number[] = [-1];
  let minScore = Infinity;
  vocab.forEach((entry, id) => {
    const piece = Array.isArray(entry) ? entry[0] : undefined;
    const score = Array.isArray(entry) ? entry[1] : undefined;
    if (typeof piece !== 'string' || typeof score !== 'number' || !Number.isFinite(score)) {
      throw new FileFormatError(file, `model.vocab[${id}] must be [piece, score]`);
    }
    pieces.push(piece);
    scores[id] = score;
    // HF keeps the last id of a duplicated piece (`token_to_ids.insert`).
    tokenToId.set(piece, id);
    if (score < minScore) minScore = score;
    let at = 0;
    for (const ch of piece) {
      const cp = ch.codePointAt(0) ?? 0;
      const map = children[at] ?? new Map<number, number>();
      let child = map.get(cp);
      if (child === undefined) {
        child = children.length;
        map.set(cp, child);
        children.push(new Map());
        nodePiece.push(-1);
      }
      at = child;
    }
    if (at !== 0) nodePiece[at] = id;
  });
  return { pieces, scores, tokenToId, unkId, unkScore: minScore - UNK_PENALTY, children, nodePiece };
}

function readAddedTokens(node: Json | undefined, file: string): { raw: AddedToken[]; normalized: AddedToken[] } {
  const raw: AddedToken[] = [];
  const normalized: AddedToken[] = [];
  if (node === null || node === undefined) return { raw, normalized };
  if (!Array.isArray(node)) throw new FileFormatError(file, 'added_tokens must be a list');
  for (const t of node) {
    if (!isObject(t) || typeof t['id'] !== 'number' || typeof t['content'] !== 'string' || t['content'] === '') {
      throw new FileFormatError(file, 'added_tokens entries need "id" and non-empty "content"');
    }
    const token: AddedToken = {
      id: t['id'],
      content: t['content'],
      lstrip: t['lstrip'] === true,
      rstrip: t['rstrip'] === true,
      singleWord: t['single_word'] === true,
    };
    // `normalized` defaults to true for non-special tokens (HF AddedToken default).
    const isNormalized = typeof t['normalized'] === 'boolean' ? t['normalized'] : t['special'] !== true;
    (isNormalized ? normalized : raw).push(token);
  }
  return { raw, normalized };
}

/** `TemplateProcessing.single` as ids before and after the sequence (T5: none, `[1]`). */
function readPostProcessor(node: Json | undefined, file: string): { prefix: number[]; suffix: number[] } {
  const prefix: number[] = [];
  const suffix: number[] = [];
  if (node === null || node === undefined) return { prefix, suffix };
  if (!isObject(node) || node['type'] !== 'TemplateProcessing') {
    throw new FileFormatError(file, 'post_processor must be TemplateProcessing or null');
  }
  const single = node['single'];
  const specials = node['special_tokens'];
  if (!Array.isArray(single) || !isObject(specials)) {
    throw new FileFormatError(file, 'TemplateProcessing needs "single" and "special_tokens"');
  }
  let seenSequence = false;
  for (const item of single) {
    if (isObject(item) && isObject(item['Sequence'])) {
      seenSequence = true;
      continue;
    }
    const special = isObject(item) ? item['SpecialToken'] : undefined;
    const name = isObject(special) ? special['id'] : undefined;
    const entry = typeof name === 'string' ? specials[name] : undefined;
    const ids = isObject(entry) ? entry['ids'] : undefined;
    const numbers = Array.isArray(ids) ? ids.filter((x): x is number => typeof x === 'number') : [];
    if (!Array.isArray(ids) || numbers.length !== ids.length) {
      throw new FileFormatError(file, `TemplateProcessing special token ${JSON.stringify(name)} has no ids`);
    }
    (seenSequence ? suffix : prefix).push(...numbers);
  }
  return { prefix, suffix };
}

// ---------------------------------------------------------------------------------------------
// Encoding

interface Segment {
  readonly start: number;
  readonly text: string;
  readonly id?: number;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\u200c\u200d]/u;

/**
 * `AddedVocabulary::find_matches`: leftmost-longest, non-overlapping matches; `lstrip`/`rstrip`
 * tokens swallow adjacent White_Space (§4.3); `single_word` tokens must not touch word chars.
 */
function splitAddedTokens(text: string, byFirst: Map<number, AddedToken[]>, offset: number): Segment[] {
  if (byFirst.size === 0 || text === '') return [{ start: offset, text }];
  const matches: Array<{ start: number; end: number; token: AddedToken }> = [];
  for (let i = 0; i < text.length; ) {
    const candidates = byFirst.get(text.charCodeAt(i));
    const token = candidates?.find((t) => text.startsWith(t.content, i));
    if (token !== undefined) {
      matches.push({ start: i, end: i + token.content.length, token });
      i += token.content.length;
    } else i++;
  }
  if (matches.length === 0) return [{ start: offset, text }];
  const out: Segment[] = [];
  let done = 0;
  for (const m of matches) {
    let start = m.start;
    let stop = m.end;
    if (m.token.singleWord) {
      const before = start > 0 ? text.codePointAt(start - (isTrail(text.charCodeAt(start - 1)) ? 2 : 1)) : undefined;
      const after = stop < text.length ? text.codePointAt(stop) : undefined;
      if ((before !== undefined && WORD_CHAR.test(String.fromCodePoint(before))) ||
        (after !== undefined && WORD_CHAR.test(String.fromCodePoint(after)))) continue;
    }
    if (m.token.lstrip) {
      let s = start;
      while (s > 0 && isWhiteSpace(text.charCodeAt(s - 1))) s--;
      start = Math.max(s, done);
    }
    if (m.token.rstrip) {
      // White_Space is BMP-only, so whitespace is always one UTF-16 unit.
      while (stop < text.length && isWhiteSpace(text.charCodeAt(stop))) stop++;
    }
    if (done < start) out.push({ start: offset + done, text: text.slice(done, start) });
    out.push({ start: offset + start, text: text.slice(start, stop), id: m.token.id });
    done = stop;
  }
  if (done < text.length) out.push({ start: offset + done, text: text.slice(done) });
  return out;
}

function isTrail(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

function indexByFirstUnit(tokens: readonly AddedToken[]): Map<number, AddedToken[]> {
  const map = new Map<number, AddedToken[]>();
  for (const t of tokens) {
    const key = t.content.charCodeAt(0);
    const list = map.get(key) ?? [];
    list.push(t);
    map.set(key, list);
  }
  // Longest first, so the first hit at a position is the leftmost-longest match.
  for (const list of map.values()) list.sort((a, b) => b.content.length - a.content.length);
  return map;
}

export function createT5Tokenizer(files: T5TokenizerFiles): T5Tokenizer {
  const file = files.fileName ?? 'tokenizer.json';
  if (typeof files.tokenizerJson !== 'string' || files.tokenizerJson.length === 0) {
    throw new FileFormatError(file, 'missing or empty');
  }
  let root: Json;
  try {
    root = JSON.parse(files.tokenizerJson) as Json;
  } catch (e) {
    throw new FileFormatError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(root)) throw new FileFormatError(file, 'expected a JSON object');
  const steps: NormalizerStep[] = [];
  readNormalizer(root['normalizer'], file, steps);
  const metaspace = readPreTokenizer(root['pre_tokenizer'], file);
  const model = readModel(root['model'], file);
  const added = readAddedTokens(root['added_tokens'], file);
  const post = readPostProcessor(root['post_processor'], file);
  const rawTokens = indexByFirstUnit(added.raw);
  const normalizedTokens = indexByFirstUnit(added.normalized);
  const pieceCache = new Map<string, readonly number[]>();

  function normalize(text: string): string {
    let s = text;
    for (const step of steps) {
      if (step.kind === 'charsmap') s = step.charsmap.normalize(s);
      else if (step.kind === 'replace') s = s.replace(step.pattern, step.content);
      else s = strip(s, step.left, step.right);
    }
    return s;
  }

  /** Metaspace (§4.3): spaces → `▁`, prepend one to non-empty text, split before each `▁`. */
  function preTokenize(text: string, atOrigin: boolean): string[] {
    if (metaspace === undefined) return text === '' ? [] : [text];
    const rep = metaspace.replacement;
    let s = text.replaceAll(' ', rep);
    const prepend = metaspace.prepend === 'always' || (metaspace.prepend === 'first' && atOrigin);
    if (prepend && s !== '' && !s.startsWith(rep)) s = rep + s;
    if (!metaspace.split) return s === '' ? [] : [s];
    const pieces: string[] = [];
    let start = 0;
    for (let i = s.indexOf(rep, 1); i >= 0; i = s.indexOf(rep, i + rep.length)) {
      if (i > start) pieces.push(s.slice(start, i));
      start = i;
    }
    if (start < s.length) pieces.push(s.slice(start));
    return pieces;
  }

  /**
   * Viterbi over one piece (§4.4, `Unigram::encode_optimized`): float64 path scores, prefixes
   * shortest first, replace only on a strictly better score, an unknown node per character
   * without a single-character piece, consecutive unknowns fused into one token.
   */
  function viterbi(piece: string): readonly number[] {
    const cached = pieceCache.get(piece);
    if (cached !== undefined) return cached;
    const cps: number[] = [];
    /** UTF-16 offset of each code point, and of the end. */
    const offsets: number[] = [];
    for (let i = 0; i < piece.length; ) {
      const cp = piece.codePointAt(i) ?? 0;
      cps.push(cp);
      offsets.push(i);
      i += cp > 0xffff ? 2 : 1;
    }
    offsets.push(piece.length);
    const n = cps.length;
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const nodeId = new Int32Array(n + 1);
    for (let start = 0; start < n; start++) {
      const base = best[start] ?? 0;
      let hasSingle = false;
      let at = 0;
      for (let k = start; k < n; k++) {
        const child = model.children[at]?.get(cps[k] ?? 0);
        if (child === undefined) break;
        at = child;
        const id = model.nodePiece[at] ?? -1;
        if (id < 0) continue;
        const end = k + 1;
        const cand = (model.scores[id] ?? 0) + base;
        if (from[end] === -1 || cand > (best[end] ?? 0)) {
          best[end] = cand;
          from[end] = start;
          nodeId[end] = id;
        }
        if (end === start + 1) hasSingle = true;
      }
      if (!hasSingle) {
        const end = start + 1;
        const cand = model.unkScore + base;
        if (from[end] === -1 || cand > (best[end] ?? 0)) {
          best[end] = cand;
          from[end] = start;
          nodeId[end] = model.unkId;
        }
      }
    }
    // Backtrack; unknown runs (and a literal `<unk>` piece next to them) fuse into one token,
    // looked up as a string like HF does, which falls back to the unknown id.
    const reversed: number[] = [];
    let unkEnd = -1;
    const flushUnk = (startCp: number): void => {
      if (unkEnd < 0) return;
      const text = piece.slice(offsets[startCp] ?? 0, offsets[unkEnd] ?? piece.length);
      reversed.push(model.tokenToId.get(text) ?? model.unkId);
      unkEnd = -1;
    };
    let end = n;
    let unkStart = n;
    while (end > 0) {
      const start = from[end] ?? 0;
      const id = nodeId[end] ?? 0;
      if (id === model.unkId) {
        if (unkEnd < 0) unkEnd = end;
        unkStart = start;
      } else {
        flushUnk(unkStart);
        reversed.push(id);
      }
      end = start;
    }
    flushUnk(unkStart);
    const ids = reversed.reverse();
    if (pieceCache.size >= CACHE_LIMIT) pieceCache.clear();
    pieceCache.set(piece, ids);
    return ids;
  }

  /**
   * Ids without the post-processor's tokens. Pieces are encoded independently, so stopping
   * once `limit` ids exist gives a prefix of the full result (enough for truncation).
   */
  function encodeIds(text: string, limit = Infinity): number[] {
    const out: number[] = [];
    for (const seg of splitAddedTokens(toWellFormed(text), rawTokens, 0)) {
      if (out.length >= limit) break;
      if (seg.id !== undefined) {
        out.push(seg.id);
        continue;
      }
      for (const part of splitAddedTokens(normalize(seg.text), normalizedTokens, seg.start)) {
        if (part.id !== undefined) out.push(part.id);
        else {
          for (const piece of preTokenize(part.text, part.start === 0)) {
            if (out.length >= limit) break;
            out.push(...viterbi(piece));
          }
        }
      }
    }
    return out;
  }

  function encodeText(text: string): number[] {
    return [...post.prefix, ...encodeIds(text), ...post.suffix];
  }

  // `SDTokenizer`: the end token is what the tokenizer gives for '' (`empty[0]`, i.e. `</s>`).
  const endToken = encodeText('')[0] ?? 1;

  return {
    encodeText,

    encodeSd3(text: string): Int32Array {
      const cut = sliceCodePoints(toWellFormed(text), T5_SD3_MAX_CODE_POINTS);
      const ids: number[] = [];
      for (const word of promptWords(cut)) ids.push(...encodeText(word).slice(0, -1));
      ids.push(endToken);
      const out = new Int32Array(Math.max(T5_SD3_MIN_LENGTH, ids.length)).fill(T5_PAD);
      out.set(ids);
      return out;
    },

    encodeDiffusers(text: string, maxLength: number = T5_DIFFUSERS_LENGTH): Int32Array {
      const specials = post.prefix.length + post.suffix.length;
      if (!Number.isInteger(maxLength) || maxLength < specials || maxLength > 1 << 20) {
        throw new InvalidArgumentError('t5MaxLength', `an integer in [${specials}, ${1 << 20}]`, maxLength);
      }
      const body = encodeIds(text, maxLength - specials).slice(0, maxLength - specials);
      const out = new Int32Array(maxLength).fill(T5_PAD);
      out.set([...post.prefix, ...body, ...post.suffix]);
      return out;
    },
  };
}

/** `Strip` normalizer: trims Unicode White_Space (Rust `char::is_whitespace`). */
function strip(s: string, left: boolean, right: boolean): string {
  let start = 0;
  let end = s.length;
  if (right) {
    while (end > 0) {
      const unit = s.charCodeAt(end - 1);
      // White_Space is entirely in the BMP; a trailing surrogate pair is never whitespace.
      if (!isWhiteSpace(unit)) break;
      end--;
    }
  }
  if (left) {
    while (start < end && isWhiteSpace(s.charCodeAt(start))) start++;
  }
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
