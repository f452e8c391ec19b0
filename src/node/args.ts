import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError } from '../errors.js';

/**
 * Every subcommand parses its flags with `node:util` parseArgs (strict: an unknown flag, a
 * missing value or a stray positional is an error) plus `--help`/`-h`. Parse errors become
 * InvalidArgumentErrors naming the flag, which the commands report as usage errors (exit 2).
 */

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommand<O extends OptionSpec> {
  readonly values: { [K in keyof O]?: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { multiple: true } ? string[] : string };
  readonly positionals: string[];
}

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export function parseCommand<O extends OptionSpec>(argv: readonly string[], options: O, positionals = false): ParsedCommand<O> | 'help' {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, ...HELP }, strict: true, allowPositionals: positionals });
  } catch (error) {
    const e = error as Error & { code?: string };
    const flag = /'([^']+)'/.exec(e.message)?.[1] ?? 'arguments';
    const allowed = Object.keys(options).map((k) => `--${k}`).join(', ') + ', --help';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new InvalidArgumentError('flag', `one of ${allowed}`, flag.split(' ')[0]);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new InvalidArgumentError('arguments', `flags only (${allowed})`, flag);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new InvalidArgumentError(flag.split(' ')[0] ?? flag, 'a value after the flag', 'nothing');
    throw new InvalidArgumentError('arguments', allowed, e.message);
  }
  if (parsed.values['help'] === true) return 'help';
  return parsed as unknown as ParsedCommand<O>;
}

/** A required string flag. */
export function required(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value === '') throw new InvalidArgumentError(flag, what, 'nothing');
  return value;
}

/** A numeric flag: integers unless `real`. */
export function numberFlag(value: string | undefined, flag: string, o: { integer?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (o.integer !== false && !Number.isInteger(n))) {
    throw new InvalidArgumentError(flag, o.integer === false ? 'a number' : 'an integer', value);
  }
  return n;
}
