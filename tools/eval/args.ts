/** The evaluation's command line, parsed with node:util parseArgs (unknown flags are errors). */
import { parseArgs } from 'node:util';
import { EvalUsageError } from '../world/errors.js';

export const HELP = `usage: npm run eval -- [--json file] [--validation] [--guidance-scale x] [--shift x] [--steps n]
                     [--model id|path] [--gt | --images dir] [--out-dir dir] [--save-images] [--slots n] [--cache-dir dir]`;

export interface EvalArgs {
  help: boolean;
  json?: string;
  validation: boolean;
  source: 'engine' | 'gt' | 'images';
  images?: string;
  guidanceScale?: number;
  shift?: number;
  steps?: number;
  model?: string;
  outDir?: string;
  saveImages: boolean;
  slots?: number;
  cacheDir?: string;
}

function number(name: string, v: string | undefined, check: (x: number) => boolean, allowed: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new EvalUsageError(`--${name} must be ${allowed}, got "${v}"`);
  return x;
}

const OPTIONS = {
  json: { type: 'string' },
  validation: { type: 'boolean', default: false },
  'guidance-scale': { type: 'string' },
  shift: { type: 'string' },
  steps: { type: 'string' },
  model: { type: 'string' },
  gt: { type: 'boolean', default: false },
  images: { type: 'string' },
  'out-dir': { type: 'string' },
  'save-images': { type: 'boolean', default: false },
  slots: { type: 'string' },
  'cache-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: argv.filter((a, i) => !(a === '--' && i === 0)), options: OPTIONS, strict: true, allowPositionals: false });
  } catch (error) {
    // parseArgs' own errors (unknown flag, missing value, stray argument) become the tool's usage error.
    throw new EvalUsageError((error as Error).message);
  }
}

export function parseEvalArgs(argv: readonly string[]): EvalArgs {
  const { values } = parse(argv);
  const guidanceScale = number('guidance-scale', values['guidance-scale'], (x) => x >= 0, 'a number ≥ 0');
  const shift = number('shift', values.shift, (x) => x > 0, 'a number > 0');
  const steps = number('steps', values.steps, (x) => Number.isInteger(x) && x >= 1 && x <= 200, 'an integer in 1–200');
  const slots = number('slots', values.slots, (x) => Number.isInteger(x) && x >= 1 && x <= 96, 'an integer in 1–96');
  if (values.gt && values.images !== undefined) throw new EvalUsageError('--gt and --images are two different sources of pictures; give one');
  const source = values.gt ? 'gt' : values.images !== undefined ? 'images' : 'engine';
  if (source !== 'engine' && (guidanceScale !== undefined || shift !== undefined || steps !== undefined || values.model !== undefined || values['cache-dir'] !== undefined)) {
    throw new EvalUsageError('--guidance-scale, --shift, --steps, --model and --cache-dir apply to generated pictures, not to --gt or --images');
  }
  const out: EvalArgs = { help: values.help, validation: values.validation, source, saveImages: values['save-images'] };
  if (values.json !== undefined) out.json = values.json;
  if (values.images !== undefined) out.images = values.images;
  if (guidanceScale !== undefined) out.guidanceScale = guidanceScale;
  if (shift !== undefined) out.shift = shift;
  if (steps !== undefined) out.steps = steps;
  if (values.model !== undefined) out.model = values.model;
  if (values['out-dir'] !== undefined) out.outDir = values['out-dir'];
  if (slots !== undefined) out.slots = slots;
  if (values['cache-dir'] !== undefined) out.cacheDir = values['cache-dir'];
  return out;
}
