import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileFormatError, MmditError } from '../../errors.js';
import { createSd3Tokenizer, type Sd3Tokenizer } from '../../text/index.js';
import { parseCommand, required } from '../args.js';

const USAGE = 'usage: mmdit-webgpu tokenize --input <prompts.json> --json <out.json> [--tokenizers <dir>]';
const OPTIONS = { input: { type: 'string' }, json: { type: 'string' }, tokenizers: { type: 'string' } } as const;

/** The vocabularies' folder: `--tokenizers`, else `$MMDIT_SHARED/tokenizers`, else `../shared/tokenizers`. */
export function defaultTokenizersDir(): string {
  const shared = process.env['MMDIT_SHARED'];
  return shared !== undefined && shared !== '' ? join(shared, 'tokenizers') : resolve(process.cwd(), '../shared/tokenizers');
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileFormatError(path, code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(e)})`);
  }
}

/**
 * Loads SD3's tokenizers from a folder laid out like `shared/tokenizers`: `clip/vocab.json`,
 * `clip/merges.txt`, `t5xxl/tokenizer.json`. A missing or malformed file is a FileFormatError
 * naming it.
 */
export async function loadSd3Tokenizer(dir: string = defaultTokenizersDir()): Promise<Sd3Tokenizer> {
  const vocab = join(dir, 'clip', 'vocab.json');
  const merges = join(dir, 'clip', 'merges.txt');
  const t5 = join(dir, 't5xxl', 'tokenizer.json');
  const [clipVocabJson, clipMergesTxt, t5TokenizerJson] = await Promise.all([readText(vocab), readText(merges), readText(t5)]);
  return createSd3Tokenizer({
    clipVocabJson,
    clipMergesTxt,
    t5TokenizerJson,
    fileNames: { clipVocab: vocab, clipMerges: merges, t5Tokenizer: t5 },
  });
}

interface Prompt {
  readonly id: string;
  readonly text: string;
}

function parsePrompts(json: string, file: string): Prompt[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (e) {
    throw new FileFormatError(file, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(parsed)) throw new FileFormatError(file, 'expected a list of {"id", "text"}');
  return parsed.map((p: unknown, i) => {
    const entry = p as { id?: unknown; text?: unknown } | null;
    if (entry === null || typeof entry !== 'object' || typeof entry.id !== 'string' || typeof entry.text !== 'string') {
      throw new FileFormatError(file, `entry ${i} is not {"id": string, "text": string}`);
    }
    return { id: entry.id, text: entry.text };
  });
}

/**
 * `mmdit-webgpu tokenize --input <prompts.json> --json <out.json> [--tokenizers <dir>]`: ids for
 * a list of `{id, text}` in both conventions, in the layout of the shared `expected.json`.
 * Exit codes: 0 done, 1 unreadable or malformed file, 2 bad usage.
 */
export async function runTokenize(argv: string[]): Promise<number> {
  let input: string;
  let output: string;
  let tokenizers: string | undefined;
  try {
    const args = parseCommand(argv, OPTIONS);
    if (args === 'help') {
      console.log(USAGE);
      return 0;
    }
    input = required(args.values.input, '--input', 'a prompts.json file');
    output = required(args.values.json, '--json', 'an output .json file');
    tokenizers = args.values.tokenizers;
  } catch (e) {
    console.error(`tokenize: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  try {
    const [tokenizer, prompts] = await Promise.all([
      loadSd3Tokenizer(tokenizers ?? defaultTokenizersDir()),
      readText(input).then((text) => parsePrompts(text, input)),
    ]);
    const lines = prompts.map((p) => {
      const sd3 = tokenizer.tokenize(p.text, { convention: 'sd3' });
      const diffusers = tokenizer.tokenize(p.text, { convention: 'diffusers' });
      return JSON.stringify({
        id: p.id,
        clip_l: Array.from(sd3.clipL),
        clip_g: Array.from(sd3.clipG),
        t5xxl: Array.from(sd3.t5),
        t5xxl_256: Array.from(diffusers.t5),
        eos_index: sd3.eosIndex,
        clip_l_diffusers: Array.from(diffusers.clipL),
        clip_g_diffusers: Array.from(diffusers.clipG),
        eos_index_diffusers: diffusers.eosIndex,
      });
    });
    try {
      await writeFile(output, `{"cases": [\n${lines.join(',\n')}\n]}\n`);
    } catch (e) {
      console.error(`tokenize: --json: cannot write ${output} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      return 1;
    }
    console.log(`tokenize: ${prompts.length} prompt(s) → ${output}`);
    return 0;
  } catch (e) {
    if (!(e instanceof MmditError)) throw e;
    console.error(`tokenize: ${e.name}: ${e.message}`);
    return 1;
  }
}
