/**
 * Errors and warnings of remote cache import/export. Import and export never fail a build on their
 * own (BuildKit treats cache import failures as warnings, and our export is fail-soft); what goes
 * wrong is returned as a typed {@link RemoteCacheWarning} or a skipped item. The error class is
 * thrown only for things the caller must fix before anything can run (a malformed spec).
 */
import { BuildError } from '@build-image/errors';

/** Stable codes of {@link RemoteCacheError} and {@link RemoteCacheWarning}. */
export type RemoteCacheCode =
  /** No cache under the given ref / dir / scope (yet): normal on a first build. */
  | 'E_CACHE_NOT_FOUND'
  /** The cache exists but could not be read: unreachable, denied, not our format, corrupt. */
  | 'E_CACHE_IMPORT'
  /** Some of the cache could not be written; the rest was. */
  | 'E_CACHE_EXPORT'
  /** A cache record or blob failed verification and was ignored. */
  | 'E_CACHE_CORRUPT';

/**
 * A remote cache operation failed. Import/export catch these and turn them into warnings; they
 * escape only from the low-level backend functions.
 *
 * @example
 * ```ts
 * throw new RemoteCacheError('E_CACHE_IMPORT', 'cache config of 127.0.0.1:5000/app:cache is not JSON', { ref })
 * ```
 */
export class RemoteCacheError extends BuildError {
  override readonly name = 'RemoteCacheError';
  constructor(code: RemoteCacheCode, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { data, cause });
  }
}

/** A problem import or export met and stepped over. */
export interface RemoteCacheWarning {
  code: RemoteCacheCode;
  message: string;
}

/**
 * The message of an unknown thrown value, including the first causes (fetch hides the reason there).
 *
 * @example
 * errorMessage(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') })) // 'fetch failed: connect ECONNREFUSED'
 */
export function errorMessage(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && m && !parts.some((p) => p.includes(m))) parts.push(m);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.length ? parts.join(': ') : String(e);
}
