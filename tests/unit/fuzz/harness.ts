import fc from 'fast-check';
import { MmditError } from '../../../src/errors.js';

/**
 * The fuzzing rule, for every parser: each input either parses or raises an MmditError subclass,
 * within a time limit; any other exception, or a case over the limit, fails the property, and
 * fast-check shrinks it to a small counterexample. Runs are seeded (reproducible in CI) and
 * bounded: `MMDIT_FUZZ_RUNS` cases per parser (300 by default; `npm run fuzz` sets 10000) and
 * `MMDIT_FUZZ_SEED` to explore other seeds.
 */

export const FUZZ_RUNS = Number(process.env['MMDIT_FUZZ_RUNS'] ?? 300);
const SEED_OFFSET = Number(process.env['MMDIT_FUZZ_SEED'] ?? 0);

/**
 * Per case: generous against a 2-core machine shared with other work (a loaded run measured
 * 2.4 s for one 250 KB charsmap case that takes 50 ms when quiet), tiny against a hang.
 */
export const CASE_LIMIT_MS = 10_000;

export interface FuzzStats {
  readonly parser: string;
  readonly seed: number;
  cases: number;
  parsed: number;
  typed: Record<string, number>;
  slowestMs: number;
  totalMs: number;
}

class CaseTimeout extends Error {}

/**
 * Runs one case, racing it against the limit; a synchronous hang cannot be interrupted, so the
 * elapsed time is checked afterwards too (vitest's test timeout ends a true infinite loop).
 * Returns the elapsed time and what the case threw, if anything.
 */
async function withinLimit(run: () => unknown, limitMs: number): Promise<{ elapsed: number; error?: unknown }> {
  const start = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let error: unknown;
  let threw = false;
  try {
    await Promise.race([
      Promise.resolve().then(run),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CaseTimeout(`no answer within ${limitMs} ms (hang)`)), limitMs);
      }),
    ]);
  } catch (e) {
    if (e instanceof CaseTimeout) throw e;
    threw = true;
    error = e;
  } finally {
    clearTimeout(timer);
  }
  const elapsed = performance.now() - start;
  if (elapsed > limitMs) throw new CaseTimeout(`took ${elapsed.toFixed(0)} ms, over the ${limitMs} ms limit`);
  return threw ? { elapsed, error } : { elapsed };
}

/**
 * Runs the property and returns the figures (also printed, one line per parser). `parse` gets
 * one generated input and may be sync or async.
 */
export async function fuzzParser<T>(
  parser: string,
  seed: number,
  input: fc.Arbitrary<T>,
  parse: (value: T) => unknown,
  options: { runs?: number; limitMs?: number } = {},
): Promise<FuzzStats> {
  const limitMs = options.limitMs ?? CASE_LIMIT_MS;
  const stats: FuzzStats = { parser, seed: seed + SEED_OFFSET, cases: 0, parsed: 0, typed: {}, slowestMs: 0, totalMs: 0 };
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(input, async (value) => {
      stats.cases++;
      const outcome = await withinLimit(() => parse(value), limitMs);
      if (!('error' in outcome)) stats.parsed++;
      else if (outcome.error instanceof MmditError) stats.typed[outcome.error.name] = (stats.typed[outcome.error.name] ?? 0) + 1;
      else throw outcome.error;
      stats.slowestMs = Math.max(stats.slowestMs, outcome.elapsed);
    }),
    { seed: stats.seed, numRuns: options.runs ?? FUZZ_RUNS, endOnFailure: false },
  );
  stats.totalMs = performance.now() - started;
  const typed = Object.entries(stats.typed).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(
    `fuzz ${parser}: ${stats.cases} cases (seed ${stats.seed}), ${stats.parsed} parsed, ` +
      `${stats.cases - stats.parsed} typed errors (${typed || 'none'}), 0 unexpected, 0 hangs; ` +
      `slowest ${stats.slowestMs.toFixed(1)} ms, ${(stats.totalMs / 1000).toFixed(2)} s`,
  );
  return stats;
}
