/** Prints an error the way every command does: `error: <message>` plus a code frame when located. */
import { BuildError, formatCodeFrame } from '@build-image/errors';
import type { CliIO } from './io.js';

export function printError(io: CliIO, err: unknown, source?: string): void {
  if (BuildError.is(err)) {
    io.stderr(`error: ${err.message}\n`);
    const text = err.source ?? source;
    if (err.location && text !== undefined) io.stderr(`${formatCodeFrame(text, err.location)}\n`);
    return;
  }
  io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`);
}
