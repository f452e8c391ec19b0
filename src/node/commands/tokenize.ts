import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FileFormatError, MmditError } from '../../errors.js';
import { createSd3Tokenizer, type Sd3Tokenizer } from '../../text/index.js';

const USAGE = 'usage: mmdit-webgpu tokenize --input <prompts.json> --json <out.json> [--tokenizers <dir>]';
const FLAGS = ['--input', '--json', '--tokenizers'] as const;
type Flag = (typeof FLAGS)[number];

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

function parseArgs(argv: readonly string[]): Partial<Record<Flag, string>> | string {
  const out: Partial<Record<Flag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!(FLAGS as readonly string[]).includes(name)) return `unknown argument "${arg}"`;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') return `${name} needs a value`;
    out[name as Flag] = value;
  }
  if (out['--input'] === undefined) return '--input <prompts.json> is required';
  if (out['--json'] === undefined) return '--json <out.json> is required';
  return out;
}

/**
 * `mmdit-webgpu tokenize --input <prompts.json> --json <out.json> [--tokenizers <dir>]`: ids for
 * a list of `{id, text}` in both conventions, in the layout of the shared `expected.json`.
 * Exit codes: 0 done, 1 unreadable or malformed file, 2 bad usage.
 */
export async function runTokenize(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    console.error(`tokenize: ${args}\n${USAGE}`);
    return 2;
  }
  const input = args['--input'] ?? '';
  const output = args['--json'] ?? '';
  try {
    const [tokenizer, prompts] = await Promise.all([
      loadSd3Tokenizer(args['--tokenizers'] ?? defaultTokenizersDir()),
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
