import { describe, expect, it } from 'vitest';
import { parseEvalArgs } from '../../../tools/eval/args.js';
import { EvalUsageError } from '../../../tools/world/errors.js';

describe('npm run eval arguments', () => {
  it('defaults to the engine on the evaluation set', () => {
    expect(parseEvalArgs([])).toEqual({ help: false, validation: false, source: 'engine', saveImages: false });
    expect(parseEvalArgs(['--', '--json', 'out.json'])).toMatchObject({ json: 'out.json' });
  });

  it('takes validation overrides', () => {
    expect(parseEvalArgs(['--validation', '--guidance-scale', '4.5', '--shift', '3', '--steps', '12'])).toMatchObject({
      validation: true,
      guidanceScale: 4.5,
      shift: 3,
      steps: 12,
      source: 'engine',
    });
  });

  it('rejects unknown flags, bad numbers and conflicting sources', () => {
    expect(() => parseEvalArgs(['--guidance', '4'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--guidance', '4'])).toThrow(/Unknown option '--guidance'/);
    expect(() => parseEvalArgs(['--json'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['extra'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--steps', '0'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--steps', '2.5'])).toThrow(/--steps must be an integer in 1–200/);
    expect(() => parseEvalArgs(['--guidance-scale', 'NaN'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--guidance-scale=-1'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--shift', '0'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--slots', '97'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--gt', '--images', 'dir'])).toThrow(EvalUsageError);
    expect(() => parseEvalArgs(['--gt', '--steps', '4'])).toThrow(/apply to generated pictures/);
  });
});
