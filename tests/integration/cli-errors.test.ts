import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The CLI as a user runs it: exit 1 for failures, 2 for usage errors, one line and no stack trace. */

const VITE_NODE = resolve('node_modules/vite-node/dist/cli.mjs');
const SHARED = process.env['MMDIT_SHARED'] ?? resolve(process.cwd(), '../shared');

function cli(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [VITE_NODE, 'src/node/cli.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr.split('\n').filter((l) => !/XDG_RUNTIME_DIR|Vulkan|InitializeImpl|While initializing|^\s*$/.test(l)).join('\n') };
}

describe('CLI failures', () => {
  it('convert --out /proc/nope/x exits 1 at once with one line naming the path, no stack trace', () => {
    const t0 = Date.now();
    const r = cli('convert', resolve(SHARED, 'vectors/c1_sd3m/weights.safetensors'), '--out', '/proc/nope/x');
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/FileAccessError: \/proc\/nope: cannot be written/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('--debug is accepted after any command (a missing vectors folder is still a usage error, exit 2)', () => {
    const r = cli('verify', '/nonexistent-vectors', '--debug');
    expect(r.status).toBe(2);
    expect(r.stderr).not.toMatch(/unknown|--debug/);
  });
});
