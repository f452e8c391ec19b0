import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The only tests allowed not to run are those that need a GPU feature this adapter lacks
 * (shader-f16): they are `skipIf` with the reason in their names, so a report shows them as
 * skipped, never as passed. No other skip, todo or only, and no test that returns early
 * claiming success.
 */

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const FILES = testFiles(join(process.cwd(), 'tests'));
const THIS = relative(process.cwd(), import.meta.filename);

function offending(check: (line: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of FILES) {
    const name = relative(process.cwd(), file);
    if (name === THIS) continue;
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (check(line)) out.push(`${name}:${i + 1}: ${line.trim()}`);
    });
  }
  return out;
}

describe('test hygiene', () => {
  it('finds the test files', () => {
    expect(FILES.length).toBeGreaterThan(50);
  });

  it('no .skip, .todo or .only', () => {
    expect(offending((l) => /\b(it|test|describe)\.(skip|todo|only)\s*\(/.test(l))).toEqual([]);
  });

  it('every skipIf and runtime skip is about shader-f16 and says so in its text', () => {
    expect(offending((l) => /\.skipIf\s*\(|\.runIf\s*\(|\bskip\s*\(\s*['"`]/.test(l) && !/shader-f16/.test(l))).toEqual([]);
  });

  it('no test reports "not run" and passes', () => {
    expect(offending((l) => /not run: adapter lacks/.test(l))).toEqual([]);
  });
});
