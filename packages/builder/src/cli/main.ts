#!/usr/bin/env node
/**
 * The `build-image` command line: a small dispatcher over `commands/*`. Each command is a
 * {@link CommandSpec}; add one by importing it into COMMANDS.
 */
import { readFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { graphCommand } from './commands/graph.js';
import { parseCommand } from './commands/parse.js';
import { buildCommand } from './commands/build.js';
import { doctorCommand } from './commands/doctor.js';
import { inspectCommand } from './commands/inspect.js';
import { planCommand } from './commands/plan.js';
import { printError } from './errors.js';
import { UsageError, type CliIO, type CommandSpec, type ExitCode } from './io.js';

export type { CliIO, CommandSpec, ExitCode } from './io.js';

/** Registered subcommands, in help order. */
export const COMMANDS: CommandSpec[] = [buildCommand, parseCommand, graphCommand, doctorCommand, inspectCommand, planCommand];

const VERSION = '0.1.0';

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: build-image <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --help     Show help (also: build-image <command> --help)',
    '  --version  Print the version',
    '',
  ].join('\n');
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code.
 *
 * @example await main(['graph', '--json'], io) // 0
 */
export async function main(argv: string[], io: CliIO): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`build-image ${VERSION}\n`);
    return 0;
  }
  let command = COMMANDS.find((c) => c.name === name);
  // `build-image [flags] CONTEXT` is `build-image build [flags] CONTEXT`, like `docker build`;
  // a lone word that is not an existing directory stays an unknown command.
  if (!command && (name.startsWith('-') || rest.length > 0 || existsSync(path.resolve(io.cwd, name)))) {
    command = buildCommand;
    rest.unshift(name);
  }
  if (!command) {
    io.stderr(`error: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(`Usage: ${command.usage}\n\n${command.summary}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`error: ${e.message}\nUsage: ${command.usage}\n`);
      return 2;
    }
    printError(io, e);
    return 1;
  }
}

/**
 * The process-bound IO. A closed stdout or stderr (`build-image build . 2>&1 | head`, a CI log
 * reader gone) is handled like SIGTERM, as dockerd cancels a build whose client went away: the
 * build stops, removes its containers and mounts, and exits; its further output is dropped.
 * Unhandled, the EPIPE would end the process on the spot and leave both behind.
 */
export function processIO(): CliIO {
  let closed = false;
  const onClosed = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (closed) return;
    closed = true;
    process.emit('SIGTERM', 'SIGTERM');
  };
  process.stdout.on('error', onClosed);
  process.stderr.on('error', onClosed);
  const write = (stream: NodeJS.WriteStream) => (t: string) => {
    if (!closed) stream.write(t);
  };
  return {
    stdout: write(process.stdout),
    stderr: write(process.stderr),
    env: process.env,
    cwd: process.cwd(),
    readFile: (p) => readFile(p, 'utf8'),
  };
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2), processIO()).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
