import { BuildError } from '@build-image/errors';

/**
 * The OCI runtime cannot run on this host (e.g. crun on a hybrid-cgroup host).
 * Code `E_RUNTIME_UNSUPPORTED`.
 */
export class RuntimeUnsupportedError extends BuildError {
  override readonly name = 'RuntimeUnsupportedError';
  constructor(message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('E_RUNTIME_UNSUPPORTED', message, { data, cause });
  }
}

/** The runtime binary (runc/crun) is not installed. Code `E_RUNTIME_NOT_FOUND`. */
export class RuntimeNotFoundError extends BuildError {
  override readonly name = 'RuntimeNotFoundError';
  constructor(runtime: string) {
    super(
      'E_RUNTIME_NOT_FOUND',
      `The OCI runtime "${runtime}" was not found in PATH. Install it (apt-get install -y ${runtime}) or choose another runtime.`,
      { data: { runtime } },
    );
  }
}

/**
 * The runtime failed before or while starting the container process (bad spec, missing
 * executable, permission problem). The container's own exit codes are not errors.
 * Code `E_RUNTIME_FAILED`.
 */
export class RuntimeFailedError extends BuildError {
  override readonly name = 'RuntimeFailedError';
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_RUNTIME_FAILED', message, { data });
  }
}

/** USER names a user or group that the image does not define. Code `E_USER_NOT_FOUND`. */
export class UserNotFoundError extends BuildError {
  override readonly name = 'UserNotFoundError';
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_USER_NOT_FOUND', message, { data });
  }
}

/** A RUN was cancelled through its AbortSignal. Code `E_RUN_ABORTED`. */
export class ExecAbortedError extends BuildError {
  override readonly name = 'ExecAbortedError';
  constructor(args: readonly string[]) {
    super('E_RUN_ABORTED', `process "${args.join(' ')}" was cancelled`, { data: { args: [...args] } });
  }
}

