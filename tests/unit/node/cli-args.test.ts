import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { numberFlag, parseCommand } from '../../../src/node/args.js';
import { runConvert } from '../../../src/node/commands/convert.js';
import { runGenerate } from '../../../src/node/commands/generate.js';
import { runInfo } from '../../../src/node/commands/info.js';
import { runTokenize } from '../../../src/node/commands/tokenize.js';
import { runVerify } from '../../../src/node/commands/verify.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  generate: runGenerate,
  verify: runVerify,
  convert: runConvert,
  tokenize: runTokenize,
  info: runInfo,
};

describe('parseCommand (node:util parseArgs, strict)', () => {
  const options = { out: { type: 'string' }, json: { type: 'boolean' } } as const;

  it('reads flags in both spellings and positionals when allowed', () => {
    const a = parseCommand(['--out', 'x', '--json', 'in.bin'], options, true);
    expect(a).not.toBe('help');
    if (a === 'help') return;
    expect(a.values).toEqual({ out: 'x', json: true });
    expect(a.positionals).toEqual(['in.bin']);
    const b = parseCommand(['--out=y'], options);
    expect(b !== 'help' && b.values.out).toBe('y');
  });

  it('answers --help and -h', () => {
    expect(parseCommand(['--help'], options)).toBe('help');
    expect(parseCommand(['-h'], options)).toBe('help');
  });

  it('rejects an unknown flag naming it and the allowed ones', () => {
    const e = (() => {
      try {
        parseCommand(['--outt', 'x'], options);
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).received).toBe('--outt');
    expect((e as InvalidArgumentError).allowed).toMatch(/--out, --json, --help/);
  });

  it('rejects a missing value and stray positionals', () => {
    expect(() => parseCommand(['--out'], options)).toThrow(InvalidArgumentError);
    expect(() => parseCommand(['stray'], options)).toThrow(/flags only/);
  });

  it('numberFlag parses integers and reals, naming the flag', () => {
    expect(numberFlag('12', '--steps')).toBe(12);
    expect(numberFlag('4.5', '--guidance-scale', { integer: false })).toBe(4.5);
    expect(numberFlag(undefined, '--steps')).toBeUndefined();
    expect(() => numberFlag('1.5', '--steps')).toThrow(/--steps/);
    expect(() => numberFlag('abc', '--guidance-scale', { integer: false })).toThrow(/--guidance-scale/);
  });
});

describe('every subcommand', () => {
  let out: string[];
  let err: string[];
  beforeEach(() => {
    out = [];
    err = [];
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  });
  afterEach(() => vi.restoreAllMocks());

  for (const [name, run] of Object.entries(COMMANDS)) {
    it(`${name} --help prints its usage and exits 0`, async () => {
      expect(await run(['--help'])).toBe(0);
      expect(out.join('\n')).toMatch(/^usage: /);
    });

    it(`${name} rejects an unknown flag with exit 2 and its usage`, async () => {
      expect(await run(['--no-such-flag'])).toBe(2);
      expect(err.join('\n')).toMatch(/--no-such-flag/);
      expect(err.join('\n')).toMatch(/usage: /);
    });
  }
});
