import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, InvalidArgumentError, MmditError } from '../../errors.js';
import type { Precision } from '../../shader/contract.js';
import { parseCommand } from '../args.js';
import { type CaseRunner, registerCaseRunner, registeredKinds, runVectorSet, vectorDir } from '../verify.js';

export const VERIFY_USAGE = `usage: verify <vectors dir> [--json <report.json>] [--precision f32|f16]
              [--weights <manifest.json|checkpoint.safetensors|model.onnx|diffusers dir>] [--only <kind>[,<kind>…]]
Runs every case of <dir>/index.json on WebGPU and compares it with its reference.
Exit status: 0 every case run passes, 1 otherwise, 2 bad usage.`;

/**
 * Runner modules: every `src/node/verify-<area>.ts` exporting a `<AREA>_CASE_RUNNERS` record
 * (kind → runner) is registered, so each model area ships its own runners without touching this
 * file. Vite resolves the glob at build time (CLI bundle, vite-node, vitest alike).
 */
const RUNNER_MODULES = import.meta.glob('../verify-*.ts', { eager: true });
for (const module of Object.values(RUNNER_MODULES)) {
  for (const [name, value] of Object.entries(module as Record<string, unknown>)) {
    if (!name.endsWith('_CASE_RUNNERS') || typeof value !== 'object' || value === null) continue;
    for (const [kind, runner] of Object.entries(value as Record<string, unknown>)) {
      if (typeof runner === 'function') registerCaseRunner(kind, runner as CaseRunner);
    }
  }
}

interface VerifyArgs {
  readonly dir: string;
  readonly json: string | null;
  readonly precision: Precision;
  readonly weights: string | null;
  readonly only: readonly string[];
}

const OPTIONS = {
  json: { type: 'string' },
  precision: { type: 'string' },
  dtype: { type: 'string' },
  weights: { type: 'string' },
  only: { type: 'string' },
} as const;

function parse(argv: readonly string[]): VerifyArgs | 'help' {
  const args = parseCommand(argv, OPTIONS, true);
  if (args === 'help') return 'help';
  const v = args.values;
  const precision = v.precision ?? v.dtype ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') throw new InvalidArgumentError('--precision', 'f32 or f16', precision);
  if (args.positionals.length > 1) throw new InvalidArgumentError('arguments', 'one vectors directory', args.positionals.join(' '));
  const dir = args.positionals[0];
  if (dir === undefined) throw new InvalidArgumentError('vectors directory', 'a folder holding index.json', 'nothing');
  const only = (v.only ?? '').split(',').map((k) => k.trim()).filter(Boolean);
  return { dir: vectorDir(dir), json: v.json ?? null, precision, weights: v.weights ?? null, only };
}

/** `verify <dir> [--json <report>] [--precision f32|f16] [--weights <file>] [--only <kinds>]` → exit status. */
export async function runVerify(argv: readonly string[]): Promise<number> {
  let args: VerifyArgs | 'help';
  try {
    args = parse(argv);
    if (args === 'help') {
      console.log(VERIFY_USAGE);
      return 0;
    }
    if (!(await stat(join(args.dir, 'index.json')).then((s) => s.isFile(), () => false))) {
      throw new FileFormatError(args.dir, 'has no index.json');
    }
    if (args.weights && !(await stat(args.weights).then(() => true, () => false))) throw new FileFormatError(args.weights, 'no such weights file or folder');
  } catch (error) {
    console.error(`verify: ${(error as Error).message}\n${VERIFY_USAGE}`);
    return 2;
  }
  try {
    const report = await runVectorSet({
      dir: args.dir,
      precision: args.precision,
      weights: args.weights,
      only: args.only,
      json: args.json,
    });
    if (report.cases.length === 0) {
      console.error(`verify: no case of kind ${args.only.join(', ') || '(any)'} in ${args.dir} (runners: ${registeredKinds().join(', ')})`);
      return 2;
    }
    return report.pass ? 0 : 1;
  } catch (error) {
    if (error instanceof InvalidArgumentError || error instanceof FileFormatError) {
      console.error(`verify: ${error.message}`);
      return 2;
    }
    // Weights that fit no case, an unreadable file: the run failed (1), one line, no stack.
    if (error instanceof MmditError) {
      console.error(`verify: ${error.name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
