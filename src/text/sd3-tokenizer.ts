/**
 * SD3's three tokenizers behind one call (tokenizers README §2): CLIP-L and CLIP-G share the
 * BPE vocabulary and differ in padding; T5 is the unigram model. Two conventions:
 * - `sd3` (default): Stability AI reference — weight syntax removed, per-word tokenization,
 *   first 77-token CLIP window, T5 on `text[:226]` padded to ≥ 77 and never truncated.
 * - `diffusers`: `StableDiffusion3Pipeline` — whole prompt, CLIP `[49406] + 75 + [49407]`,
 *   T5 truncated/padded to `t5MaxLength` (256).
 */
import { InvalidArgumentError } from '../errors.js';
import { CLIP_G_PAD, CLIP_L_PAD, createClipTokenizer, type ClipTokenizer } from './clip-bpe.js';
import { T5_DIFFUSERS_LENGTH, T5_PAD, createT5Tokenizer, type T5Tokenizer } from './t5-unigram.js';

export type TokenizerConvention = 'sd3' | 'diffusers';

export interface Sd3TokenizerFiles {
  /** CLIP `vocab.json` text. */
  readonly clipVocabJson: string;
  /** CLIP `merges.txt` text. */
  readonly clipMergesTxt: string;
  /** T5 `tokenizer.json` text. */
  readonly t5TokenizerJson: string;
  /** Names used in error messages. */
  readonly fileNames?: {
    readonly clipVocab?: string;
    readonly clipMerges?: string;
    readonly t5Tokenizer?: string;
  };
}

export interface TokenizeOptions {
  readonly convention?: TokenizerConvention;
  /** diffusers only: T5 length (default 256). */
  readonly t5MaxLength?: number;
}

export interface Sd3Tokens {
  /** 77 ids, padded with 49407. */
  readonly clipL: Int32Array;
  /** 77 ids, padded with 0. */
  readonly clipG: Int32Array;
  /** sd3: ≥ 77 ids; diffusers: exactly `t5MaxLength`. Padded with 0. */
  readonly t5: Int32Array;
  /** Pooling position: the first 49407 (same for L and G). */
  readonly eosIndex: number;
}

export interface Sd3Tokenizer {
  readonly clip: ClipTokenizer;
  readonly t5: T5Tokenizer;
  tokenize(prompt: string, options?: TokenizeOptions): Sd3Tokens;
}

export function createSd3Tokenizer(files: Sd3TokenizerFiles): Sd3Tokenizer {
  const names = files.fileNames;
  const clip = createClipTokenizer({
    vocabJson: files.clipVocabJson,
    mergesTxt: files.clipMergesTxt,
    fileNames: { vocab: names?.clipVocab ?? 'clip/vocab.json', merges: names?.clipMerges ?? 'clip/merges.txt' },
  });
  const t5 = createT5Tokenizer({
    tokenizerJson: files.t5TokenizerJson,
    fileName: names?.t5Tokenizer ?? 't5xxl/tokenizer.json',
  });

  return {
    clip,
    t5,
    tokenize(prompt: string, options: TokenizeOptions = {}): Sd3Tokens {
      if (typeof prompt !== 'string') throw new InvalidArgumentError('prompt', 'a string', prompt);
      const convention = options.convention ?? 'sd3';
      if (convention === 'sd3') {
        if (options.t5MaxLength !== undefined) {
          throw new InvalidArgumentError('t5MaxLength', 'only with convention "diffusers"', options.t5MaxLength);
        }
        const l = clip.encodeSd3(prompt, CLIP_L_PAD);
        const g = clip.encodeSd3(prompt, CLIP_G_PAD);
        return { clipL: l.ids, clipG: g.ids, t5: t5.encodeSd3(prompt), eosIndex: l.eosIndex };
      }
      if (convention === 'diffusers') {
        const l = clip.encodeDiffusers(prompt, CLIP_L_PAD);
        const g = clip.encodeDiffusers(prompt, CLIP_G_PAD);
        const t5Ids = t5.encodeDiffusers(prompt, options.t5MaxLength ?? T5_DIFFUSERS_LENGTH);
        return { clipL: l.ids, clipG: g.ids, t5: t5Ids, eosIndex: l.eosIndex };
      }
      throw new InvalidArgumentError('convention', '"sd3" or "diffusers"', convention);
    },
  };
}

/**
 * Pads the shorter of two T5 id sequences with 0 to the length of the longer one, so a
 * conditional and an unconditional row can share one batch (the reference pads to ≥ 77 the
 * same way; pads are ordinary inputs for T5, there is no attention mask).
 */
export function padT5Pair(a: Int32Array, b: Int32Array): readonly [Int32Array, Int32Array] {
  const length = Math.max(a.length, b.length);
  const pad = (x: Int32Array): Int32Array => {
    if (x.length === length) return x;
    const out = new Int32Array(length).fill(T5_PAD);
    out.set(x);
    return out;
  };
  return [pad(a), pad(b)];
}
