/** What a CLI command may touch: its streams, env, cwd and file reads (injected so tests run in-process). */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  readFile: (path: string) => Promise<string>;
}

/** Exit codes: 0 ok, 1 the input is wrong (Dockerfile, build), 2 the command line is wrong. */
export type ExitCode = 0 | 1 | 2;

export class UsageError extends Error {}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIO): Promise<ExitCode>;
}
