#!/usr/bin/env node
import { MmditError } from '../errors.js';

type Command = (argv: string[]) => Promise<number>;

/** Commands load lazily so `info` does not pay for the converter and the verifier. */
const COMMANDS: Readonly<Record<string, { summary: string; load: () => Promise<Command> }>> = {
  generate: { summary: 'prompt → PNG: --prompt <text> [--out image.png] | --prompts <file.json> --out-dir <dir> [--width --height --steps --guidance-scale --seed --num-images --model --variant]', load: async () => (await import('./commands/generate.js')).runGenerate },
  info: { summary: 'show the WebGPU adapter, features and limits', load: async () => (await import('./commands/info.js')).runInfo },
  verify: { summary: 'run reference vector sets: <dir> [--json report] [--precision f32|f16] [--weights file] [--only kinds]', load: async () => (await import('./commands/verify.js')).runVerify },
  convert: { summary: 'checkpoints to shards + manifest: <inputs…> --quant f16|int8|int4|f32 --out dir', load: async () => (await import('./commands/convert.js')).runConvert },
  tokenize: { summary: 'SD3 token ids of prompts: --input prompts.json --json out.json [--tokenizers dir]', load: async () => (await import('./commands/tokenize.js')).runTokenize },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: mmdit-webgpu <command> [options]    (mmdit-webgpu <command> --help for its flags)\n\ncommands:\n${lines.join('\n')}\n\nExit status: 0 done, 1 failed, 2 bad usage. --debug adds stack traces to errors.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`unknown command "${name}"\n${usage()}`);
    return 2;
  }
  return (await command.load())(rest);
}

// Top-level await: vite-node (the npm scripts) closes its module server once the entry module
// settles, so the lazily imported commands must load before that.
// `--debug` (any position, or MMDIT_DEBUG=1) adds stack traces; without it a failure is one line.
const argv = process.argv.slice(2);
const debug = argv.includes('--debug') || process.env['MMDIT_DEBUG'] === '1';
try {
  process.exitCode = await main(argv.filter((a) => a !== '--debug'));
} catch (error: unknown) {
  if (error instanceof MmditError) console.error(`${error.name}: ${error.message}`);
  else console.error(`internal error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}${debug ? '' : ' (--debug shows the stack trace)'}`);
  if (debug && error instanceof Error && error.stack) console.error(error.stack);
  process.exitCode = error instanceof MmditError && error.code === 'INVALID_ARGUMENT' ? 2 : 1;
}
