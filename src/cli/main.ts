/**
 * The `dnf` command line. Each command lives in its own file and registers itself on the program
 * through a `register(program)` function listed below.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { DnfError, oneLine } from '../errors.js';
import { register as registerConvert } from './convert.js';
import { register as registerDetect } from './detect.js';
import { register as registerDoctor } from './doctor.js';
import { register as registerEval } from './eval.js';
import { register as registerExtract } from './extract.js';
import { register as registerQueue } from './queue.js';
import { register as registerTrain } from './train.js';
import { register as registerWeights } from './weights.js';
import { register as registerWorker } from './worker.js';

const registrations: Array<(program: Command) => void> = [registerDoctor, registerConvert, registerWeights, registerExtract, registerDetect, registerEval, registerTrain, registerQueue, registerWorker];

/** The package's version, from its package.json (two folders above dist/cli/). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Usage errors whose fix is not in the help: the missing option's message is replaced by what to
 * do. No DNF classifier is published, so a newcomer without --classifier must learn where one
 * comes from.
 */
const USAGE_HINTS: Array<[RegExp, string]> = [
  [
    /required option '--classifier <file>' not specified/,
    'detect needs a classifier (--classifier FILE or DNF_CLASSIFIER), and none is published: train one with `dnf train` (README: "Train a detector"); `dnf weights list` lists the UNets for the DNFs',
  ],
];

/**
 * Usage errors in one line, with where to read more: "dnf: unknown option '--bogus'; see `dnf
 * extract --help`" (commander would print the whole help). Set on every command, nested ones too.
 */
function oneLineUsageErrors(cmd: Command, path: string): void {
  cmd.configureOutput({
    outputError: (text, write) => {
      const message = oneLine(text.replace(/^error:\s*/, '').replace(/[.\s]+$/, ''));
      const hint = USAGE_HINTS.find(([re]) => re.test(message))?.[1];
      write(`dnf: ${hint ?? message}; see \`${path} --help\`\n`);
    },
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub, `${path} ${sub.name()}`);
}

export function buildProgram(): Command {
  const program = new Command('dnf')
    .description('Diffusion Noise Features on WebGPU: extract DNF, detect generated images, train and evaluate detectors.')
    .version(version(), '-V, --version', 'print the version')
    .option('--backend <name>', 'GPU backend: auto, vulkan, metal, d3d12, opengles (llvmpipe), swiftshader (env DNF_BACKEND)')
    .option('--adapter <choice>', 'which GPU among several: high-performance (default), low-power, or an index from `dnf doctor --list` (env DNF_ADAPTER)')
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    // Every command acquires its GPU through acquireGpu, which reads DNF_ADAPTER.
    .hook('preAction', () => {
      const adapter = program.opts().adapter as string | undefined;
      if (adapter !== undefined) process.env.DNF_ADAPTER = adapter;
    });
  for (const reg of registrations) reg(program);
  oneLineUsageErrors(program, 'dnf');
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the usage error; help and version exit 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    const verbose = program.opts().verbose || argv.includes('--verbose');
    if (err instanceof DnfError) {
      console.error(`dnf: ${oneLine(err.message)}`);
      if (verbose) console.error(err.stack);
      return err.exitCode;
    }
    console.error(`dnf: ${oneLine(err instanceof Error ? err.message : String(err))}`);
    if (verbose && err instanceof Error) console.error(err.stack);
    return 2;
  }
}
