import { BuildError, type SourceLocation } from '@build-image/errors';

/**
 * A step of the Dockerfile failed while running: it carries the instruction's location (so the
 * CLI prints a code frame) and, for RUN, the exit code and the last lines of output.
 *
 * @example
 * ```ts
 * try { await build(options) } catch (e) {
 *   if (e instanceof StepFailedError && e.code === 'E_RUN_FAILED') console.error(e.location?.line, e.data.exitCode, e.data.tail)
 * }
 * ```
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
