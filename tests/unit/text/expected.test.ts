import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSd3Tokenizer, runTokenize } from '../../../src/node/commands/tokenize.js';
import type { Sd3Tokenizer } from '../../../src/text/index.js';

const SHARED = process.env['MMDIT_SHARED'] ?? path.resolve(process.cwd(), '../shared');
const TOKENIZERS = path.join(SHARED, 'tokenizers');

interface Prompt {
  readonly id: string;
  readonly text: string;
}
type Expected = Record<string, number | number[]> & { readonly id: string };

const FIELDS = [
  'clip_l',
  'clip_g',
  't5xxl',
  'eos_index',
  't5xxl_256',
  'clip_l_diffusers',
  'clip_g_diffusers',
  'eos_index_diffusers',
] as const;
type Field = (typeof FIELDS)[number];

function actual(tokenizer: Sd3Tokenizer, text: string): Record<Field, number | number[]> {
  const sd3 = tokenizer.tokenize(text);
  const diffusers = tokenizer.tokenize(text, { convention: 'diffusers' });
  return {
    clip_l: Array.from(sd3.clipL),
    clip_g: Array.from(sd3.clipG),
    t5xxl: Array.from(sd3.t5),
    eos_index: sd3.eosIndex,
    t5xxl_256: Array.from(diffusers.t5),
    clip_l_diffusers: Array.from(diffusers.clipL),
    clip_g_diffusers: Array.from(diffusers.clipG),
    eos_index_diffusers: diffusers.eosIndex,
  };
}

describe('public prompts (shared/tokenizers/public) match expected.json exactly', () => {
  const prompts = JSON.parse(readFileSync(path.join(TOKENIZERS, 'public/prompts.json'), 'utf8')) as Prompt[];
  const expected = (JSON.parse(readFileSync(path.join(TOKENIZERS, 'public/expected.json'), 'utf8')) as { cases: Expected[] }).cases;
  let results: Array<Record<Field, number | number[]>> = [];

  beforeAll(async () => {
    const tokenizer = await loadSd3Tokenizer(TOKENIZERS);
    results = prompts.map((p) => actual(tokenizer, p.text));
  });

  it('has one expected case per prompt, in order', () => {
    expect(prompts.length).toBeGreaterThan(100);
    expect(expected.map((c) => c.id)).toEqual(prompts.map((p) => p.id));
  });

  for (const field of FIELDS) {
    it(`${field}: every prompt`, () => {
      const failing = prompts
        .filter((_, i) => JSON.stringify(results[i]?.[field]) !== JSON.stringify(expected[i]?.[field]))
        .map((p) => p.id);
      expect(failing, `prompts whose ${field} differs`).toEqual([]);
    });
  }

  it('the tokenize command writes the same file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mmdit-tokenize-'));
    try {
      const out = path.join(dir, 'out.json');
      const code = await runTokenize([
        '--input', path.join(TOKENIZERS, 'public/prompts.json'),
        '--json', out,
        '--tokenizers', TOKENIZERS,
      ]);
      expect(code).toBe(0);
      const written = (JSON.parse(readFileSync(out, 'utf8')) as { cases: Expected[] }).cases;
      const failing = written.filter((c, i) => JSON.stringify(c) !== JSON.stringify(expected[i])).map((c) => c.id);
      expect(written.length).toBe(expected.length);
      expect(failing).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
