import { BuildError, type SourceLocation } from '@build-image/errors';

/**
 * A step of the Dockerfile failed while running: it carries the instruction's location (so the
 * CLI prints a code frame) and, for RUN, the exit code and the last lines of output.
 */
export class StepFailedError extends BuildError {
  override readonly name = 'StepFailedError';
  constructor(
    code: 'E_RUN_FAILED' | 'E_STEP_FAILED',
    message: string,
    location: SourceLocation,
    source: string | undefined,
    data: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(code, `${location.file}:${location.line}: ${message}`, { location, data, ...(source !== undefined ? { source } : {}), ...(cause !== undefined ? { cause } : {}) });
  }
}
