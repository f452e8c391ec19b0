import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileFormatError, InvalidArgumentError } from '../../../src/errors.js';
import { loadSd3Tokenizer, runTokenize } from '../../../src/node/commands/tokenize.js';
import { createClipTokenizer, createSd3Tokenizer, createT5Tokenizer } from '../../../src/text/index.js';

const SHARED = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');
const TOKENIZERS = path.join(SHARED, 'tokenizers');
const VOCAB = readFileSync(path.join(TOKENIZERS, 'clip/vocab.json'), 'utf8');
const MERGES = readFileSync(path.join(TOKENIZERS, 'clip/merges.txt'), 'utf8');
const T5_JSON = readFileSync(path.join(TOKENIZERS, 't5xxl/tokenizer.json'), 'utf8');

function fileFormatError(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FileFormatError);
    return e as FileFormatError;
  }
  throw new Error('expected a FileFormatError');
}

describe('CLIP vocabulary errors name the file', () => {
  const names = { vocab: 'my/vocab.json', merges: 'my/merges.txt' };
  it('missing or empty vocab.json', () => {
    const e = fileFormatError(() => createClipTokenizer({ vocabJson: '', mergesTxt: MERGES, fileNames: names }));
    expect(e.file).toBe('my/vocab.json');
    expect(e.message).toContain('my/vocab.json');
  });
  it('malformed vocab.json', () => {
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: '{"a": 1', mergesTxt: MERGES, fileNames: names })).file).toBe('my/vocab.json');
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: '[1, 2]', mergesTxt: MERGES, fileNames: names })).file).toBe('my/vocab.json');
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: '{"a": "x"}', mergesTxt: MERGES, fileNames: names })).file).toBe('my/vocab.json');
  });
  it('vocab.json without the byte-level symbols or the special tokens', () => {
    const vocab = JSON.parse(VOCAB) as Record<string, number>;
    const noSpecial = { ...vocab };
    delete noSpecial['<|endoftext|>'];
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: JSON.stringify(noSpecial), mergesTxt: MERGES })).message).toContain('<|endoftext|>');
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: '{"a": 0}', mergesTxt: '#version: 0.2\n' })).file).toBe('vocab.json');
  });
  it('missing or malformed merges.txt', () => {
    expect(fileFormatError(() => createClipTokenizer({ vocabJson: VOCAB, mergesTxt: '', fileNames: names })).file).toBe('my/merges.txt');
    const bad = fileFormatError(() => createClipTokenizer({ vocabJson: VOCAB, mergesTxt: '#version: 0.2\ni n\nthree part line\n', fileNames: names }));
    expect(bad.file).toBe('my/merges.txt');
    expect(bad.message).toContain('line 3');
    const unknown = fileFormatError(() => createClipTokenizer({ vocabJson: VOCAB, mergesTxt: 'i n\nqqq zzz\n', fileNames: names }));
    expect(unknown.file).toBe('my/merges.txt');
    expect(unknown.message).toContain('qqq');
  });
});

describe('T5 tokenizer.json errors name the file', () => {
  const fileName = 'x/tokenizer.json';
  const mutate = (f: (j: Record<string, unknown>) => void): string => {
    const j = JSON.parse(T5_JSON) as Record<string, unknown>;
    f(j);
    return JSON.stringify(j);
  };
  it('missing, empty or not JSON', () => {
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: '', fileName })).file).toBe(fileName);
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: '{"model":', fileName })).file).toBe(fileName);
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: '[]', fileName })).file).toBe(fileName);
  });
  it('wrong model or vocabulary', () => {
    const bpe = mutate((j) => ((j['model'] as Record<string, unknown>)['type'] = 'BPE'));
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: bpe, fileName })).message).toContain('Unigram');
    const noVocab = mutate((j) => ((j['model'] as Record<string, unknown>)['vocab'] = []));
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: noVocab, fileName })).file).toBe(fileName);
    const badPiece = mutate((j) => ((j['model'] as { vocab: unknown[] }).vocab[5] = ['x', 'not a score']));
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: badPiece, fileName })).message).toContain('vocab[5]');
  });
  it('broken precompiled_charsmap', () => {
    const setMap = (value: string): string =>
      mutate((j) => {
        const seq = j['normalizer'] as { normalizers: Array<Record<string, unknown>> };
        const pre = seq.normalizers.find((n) => n['type'] === 'Precompiled');
        if (pre) pre['precompiled_charsmap'] = value;
      });
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: setMap('!!not base64!!'), fileName })).message).toContain('base64');
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: setMap(btoa('\u00ff\u00ff\u00ff\u0000abcd')), fileName })).message).toContain('trie size');
  });
  it('unsupported normalizer', () => {
    const nfd = mutate((j) => (j['normalizer'] = { type: 'NFD' }));
    expect(fileFormatError(() => createT5Tokenizer({ tokenizerJson: nfd, fileName })).message).toContain('NFD');
  });
});

describe('loading from a folder and the tokenize command', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
    vi.restoreAllMocks();
  });

  it('a missing file is a FileFormatError naming it', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmdit-tok-'));
    cpSync(TOKENIZERS, dir, { recursive: true });
    rmSync(path.join(dir, 'clip/merges.txt'));
    await expect(loadSd3Tokenizer(dir)).rejects.toThrow(FileFormatError);
    await expect(loadSd3Tokenizer(dir)).rejects.toThrow(/clip[/\\]merges\.txt: file not found/);
  });

  it('a malformed file is a FileFormatError naming it; the command exits 1', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmdit-tok-'));
    cpSync(TOKENIZERS, dir, { recursive: true });
    writeFileSync(path.join(dir, 't5xxl/tokenizer.json'), '{ not json');
    await expect(loadSd3Tokenizer(dir)).rejects.toThrow(/t5xxl[/\\]tokenizer\.json: not valid JSON/);
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: unknown) => void errors.push(String(m)));
    const out = path.join(dir, 'out.json');
    const code = await runTokenize(['--input', path.join(TOKENIZERS, 'public/prompts.json'), '--json', out, '--tokenizers', dir]);
    expect(code).toBe(1);
    expect(errors.join('\n')).toContain('tokenizer.json');
  });

  it('bad usage exits 2 with a message naming the flag', async () => {
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: unknown) => void errors.push(String(m)));
    expect(await runTokenize([])).toBe(2);
    expect(errors.pop()).toContain('--input');
    expect(await runTokenize(['--input', 'p.json'])).toBe(2);
    expect(errors.pop()).toContain('--json');
    expect(await runTokenize(['--input'])).toBe(2);
    expect(errors.pop()).toMatch(/--input.*a value after the flag/);
    expect(await runTokenize(['--input', 'a', '--json', 'b', '--frobnicate'])).toBe(2);
    expect(errors.pop()).toContain('--frobnicate');
  });

  it('a malformed prompt list exits 1', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mmdit-tok-'));
    const input = path.join(dir, 'prompts.json');
    writeFileSync(input, JSON.stringify([{ id: 'a', text: 3 }]));
    const errors: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((m: unknown) => void errors.push(String(m)));
    expect(await runTokenize(['--input', input, '--json', path.join(dir, 'o.json'), '--tokenizers', TOKENIZERS])).toBe(1);
    expect(errors.join('\n')).toContain('entry 0');
  });
});

describe('options', () => {
  const tokenizer = createSd3Tokenizer({ clipVocabJson: VOCAB, clipMergesTxt: MERGES, t5TokenizerJson: T5_JSON });
  it('bad options are InvalidArgumentError naming the parameter', () => {
    expect(() => tokenizer.tokenize('a', { convention: 'sdxl' as 'sd3' })).toThrow(InvalidArgumentError);
    expect(() => tokenizer.tokenize('a', { convention: 'sdxl' as 'sd3' })).toThrow(/convention/);
    expect(() => tokenizer.tokenize('a', { convention: 'diffusers', t5MaxLength: 0 })).toThrow(/t5MaxLength/);
    expect(() => tokenizer.tokenize('a', { convention: 'diffusers', t5MaxLength: 2.5 })).toThrow(InvalidArgumentError);
    expect(() => tokenizer.tokenize('a', { t5MaxLength: 256 })).toThrow(/t5MaxLength/);
    expect(() => tokenizer.clip.encodeSd3('a', -1)).toThrow(/padId/);
  });
});
