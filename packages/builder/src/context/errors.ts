/**
 * Errors of the build-context loader. Callers match on `code`.
 */
import { BuildError, type SourceLocation } from '@build-image/errors';

/** A `.dockerignore` (or `--exclude`) pattern that BuildKit would reject. Code `E_DOCKERIGNORE`. */
export class DockerignoreError extends BuildError {
  override readonly name = 'DockerignoreError';
  constructor(message: string, data: { pattern: string; file: string; reason: string }, cause?: unknown) {
    super('E_DOCKERIGNORE', message, { data, cause });
  }
}

/** A COPY/ADD source that would reach outside the build context. Code `E_CONTEXT_ESCAPE`. */
export class ContextEscapeError extends BuildError {
  override readonly name = 'ContextEscapeError';
  constructor(source: string, detail: string, location?: SourceLocation) {
    super(
      'E_CONTEXT_ESCAPE',
      `COPY source ${JSON.stringify(source)} is outside the build context: ${detail}. ` +
        'Only files inside the context directory can be copied; move the file into the context or pass a larger context directory.',
      { data: { source, detail }, ...(location ? { location } : {}) },
    );
  }
}

/** A COPY/ADD source that matches nothing in the (filtered) context. Code `E_SOURCE_NOT_FOUND`. */
export class SourceNotFoundError extends BuildError {
  override readonly name = 'SourceNotFoundError';
  constructor(source: string, detail: string, location?: SourceLocation) {
    super(
      'E_SOURCE_NOT_FOUND',
      `COPY source ${JSON.stringify(source)} not found in the build context: ${detail}. ` +
        'Check the path (it is relative to the context root) and that .dockerignore does not exclude it.',
      { data: { source, detail }, ...(location ? { location } : {}) },
    );
  }
}
