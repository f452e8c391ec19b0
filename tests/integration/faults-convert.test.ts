import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Fault: the process is killed (SIGKILL) in the middle of `convert`. Shards are written under a
 * temporary name and renamed when complete, so whatever the moment of the kill, every file
 * under a final shard name is whole: byte for byte the shard a finished conversion writes.
 */

const SHARED = process.env['MMDIT_SHARED'] ?? resolve(process.cwd(), '../shared');
const INPUT = join(SHARED, 'vectors', 'c4_big_d4', 'weights.safetensors');
const SHARD_NAME = /^mmdit-\d{5}\.bin$/;
const VITE_NODE = resolve('node_modules/vite-node/dist/cli.mjs');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mmdit-convert-kill-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the CLI's convert into `out`; `onShardName` sees each final shard name the first time it appears. */
function convert(out: string, onShardName?: (name: string, kill: () => void) => void): Promise<number | string> {
  mkdirSync(out, { recursive: true });
  const child = spawn(process.execPath, [VITE_NODE, 'src/node/cli.ts', 'convert', INPUT, '--quant', 'f32', '--out', out, '--shard-mb', '1'], { stdio: 'ignore' });
  const seen = new Set<string>();
  const watcher = onShardName
    ? watch(out, (_event, name) => {
        if (!name || !SHARD_NAME.test(name) || seen.has(name)) return;
        seen.add(name);
        onShardName(name, () => child.kill('SIGKILL'));
      })
    : null;
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      watcher?.close();
      done(signal ?? code ?? -1);
    });
  });
}

describe('fault: convert killed mid-way', () => {
  it('leaves no partial shard under a final name', async () => {
    const reference = join(root, 'complete');
    expect(await convert(reference)).toBe(0);
    const shards = readdirSync(reference).filter((f) => SHARD_NAME.test(f));
    expect(shards.length).toBeGreaterThan(10);

    // Killed as soon as the third final shard name appears: later shards are being written.
    const killed = join(root, 'killed');
    let names = 0;
    expect(await convert(killed, (_name, kill) => ++names === 3 && kill())).toBe('SIGKILL');
    const left = readdirSync(killed);
    expect(existsSync(join(killed, 'manifest.json'))).toBe(false);
    const finals = left.filter((f) => SHARD_NAME.test(f));
    expect(finals.length).toBeGreaterThanOrEqual(3);
    expect(finals.length).toBeLessThan(shards.length);
    for (const f of finals) expect(readFileSync(join(killed, f)).equals(readFileSync(join(reference, f))), f).toBe(true);
    // Only temporary names may hold incomplete bytes.
    for (const f of left) expect(SHARD_NAME.test(f) || f.endsWith('.partial') || f.startsWith('.mmdit-write-probe'), f).toBe(true);

    // A conversion run again into the same folder clears what the killed one left.
    expect(await convert(killed)).toBe(0);
    expect(readdirSync(killed).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });
});
