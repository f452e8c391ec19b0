import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Counts GPU-executed kernel tests across test workers: each worker appends a line per GPU run
 * (tests/setup/gpu.ts) to a file in a shared folder; the count and the adapter print at the end.
 */
export function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'mmdit-gpu-runs-'));
  process.env.MMDIT_GPU_RUNS_DIR = dir;
  return () => {
    const lines = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean));
    const adapters = new Set(lines.filter((l) => l.startsWith('adapter ')).map((l) => l.slice(8)));
    const runs = lines.filter((l) => l.startsWith('run ')).length;
    console.log(`\nGPU adapter(s): ${[...adapters].join(' | ') || 'none'}`);
    console.log(`GPU-executed kernel tests: ${runs}\n`);
    rmSync(dir, { recursive: true, force: true });
  };
}
