import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runGenerate } from '../../src/node/commands/generate.js';
import { readPngText } from '../../src/pipeline/png.js';
import { parseParameters } from '../../src/pipeline/parameters.js';
import { buildPipelineModel } from '../helpers/pipeline-model.js';
import { decodePng } from '../helpers/png.js';
import type { TinyModel } from '../helpers/tiny-model.js';

/** The CLI's `generate` end to end: the real command line once, then batch mode and exit codes in-process. */

const run = promisify(execFile);
let tiny: TinyModel;
let dir: string;

beforeAll(async () => {
  tiny = await buildPipelineModel();
  dir = await mkdtemp(path.join(tmpdir(), 'mmdit-cli-'));
});

afterAll(async () => {
  await tiny?.dispose();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => vi.restoreAllMocks());

describe('mmdit-webgpu generate', () => {
  it('npm run generate writes a PNG whose tEXt chunk holds the prompt and seed, overwriting --out', async () => {
    const out = path.join(dir, 'out.png');
    await writeFile(out, 'stale');
    const { stdout, stderr } = await run('npx', ['vite-node', 'src/node/cli.ts', 'generate', '--model', tiny.modelDir, '--prompt', 'a red circle', '--seed', '7', '--steps', '2', '--out', out, '--json'], { cwd: process.cwd(), maxBuffer: 1 << 24 });
    const png = new Uint8Array(await readFile(out));
    const img = decodePng(png);
    expect([img.width, img.height]).toEqual([64, 64]);
    expect(img.chunks).toContain('tEXt');
    const text = readPngText(png)['parameters'] as string;
    const p = parseParameters(text);
    expect(p.prompt).toBe('a red circle');
    expect(p.negativePrompt).toBe('');
    expect(p.fields).toMatchObject({ Seed: '7', Steps: '2', Size: '64x64', Model: 'tiny-test' });
    const summary = JSON.parse(stdout) as { images: { file: string; seed: number }[] };
    expect(summary.images).toEqual([expect.objectContaining({ file: out, seed: 7 })]);
    // Not a terminal: plain progress lines.
    expect(stderr).toMatch(/^denoise .* 2\/2/m);
    expect(stderr).not.toContain('\r');
  });

  it('batch mode writes <dir>/<id>.png for every entry, creating the folder, with one pipeline', async () => {
    const prompts = path.join(dir, 'prompts.json');
    await writeFile(prompts, JSON.stringify([{ id: 'one', prompt: 'a red circle', seed: 3 }, { id: 'two', prompt: 'a blue square', seed: 4 }]));
    const outDir = path.join(dir, 'batch', 'nested');
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    expect(await runGenerate(['--model', tiny.modelDir, '--prompts', prompts, '--out-dir', outDir, '--steps', '1', '--num-images', '2'])).toBe(0);
    expect((await readdir(outDir)).sort()).toEqual(['one-0.png', 'one-1.png', 'two-0.png', 'two-1.png']);
    const seeds = await Promise.all(['one-0', 'one-1', 'two-0', 'two-1'].map(async (f) => parseParameters(readPngText(new Uint8Array(await readFile(path.join(outDir, `${f}.png`))))['parameters'] as string).fields['Seed']));
    expect(seeds).toEqual(['3', '4', '4', '5']);
    expect(lines.filter((l) => l.startsWith('ready:'))).toHaveLength(0);
    expect(lines.filter((l) => l.startsWith('wrote '))).toHaveLength(4);
  });

  it('usage errors exit 2 naming the flag; an unreadable or malformed prompts file exits 1', async () => {
    const err: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    expect(await runGenerate([])).toBe(2);
    expect(err.pop()).toMatch(/--prompt/);
    expect(await runGenerate(['--prompt', 'x', '--steps', 'many'])).toBe(2);
    expect(err.pop()).toMatch(/--steps/);
    expect(await runGenerate(['--prompt', 'x', '--variant', 'int3'])).toBe(2);
    // Checks that need no model come before the model is opened: a model that does not exist is
    // never reached.
    const nowhere = path.join(dir, 'no-such-model');
    for (const [flags, name] of [
      [['--width', '17'], /width/], [['--height', '0'], /height/], [['--steps', '0'], /numInferenceSteps/], [['--steps', '201'], /numInferenceSteps/],
      [['--guidance-scale=-1'], /guidanceScale/], [['--shift', '0'], /shift/], [['--num-images', '5'], /numImagesPerPrompt/],
      [['--seed', '4294967295', '--num-images', '2'], /seed/],
    ] as const) {
      expect(await runGenerate(['--prompt', 'x', '--model', nowhere, ...flags]), flags.join(' ')).toBe(2);
      const line = err.pop() ?? '';
      expect(line, flags.join(' ')).toMatch(name);
      expect(line).not.toMatch(/no-such-model/);
    }
    expect(await runGenerate(['--prompts', 'p.json'])).toBe(2);
    expect(err.pop()).toMatch(/--out-dir/);
    expect(await runGenerate(['--prompt', 'x', '--out-dir', dir])).toBe(2);
    expect(await runGenerate(['--prompts', path.join(dir, 'missing.json'), '--out-dir', dir])).toBe(1);
    expect(err.pop()).toMatch(/missing\.json/);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify([{ id: '../escape', prompt: 'x' }]));
    expect(await runGenerate(['--prompts', bad, '--out-dir', dir])).toBe(1);
    expect(err.pop()).toMatch(/file-name-safe/);
    expect(await stat(path.join(dir, '..', 'escape.png')).catch(() => null)).toBeNull();
  });
});
