/**
 * Typed errors of the cache package. Callers match on `code` (stable), never on message text.
 */
import { BuildError } from '@build-image/errors';

/**
 * A blob's content did not hash to the digest the caller expected. Nothing was stored.
 *
 * @example
 * ```ts
 * try { await store.put(stream, { expected }) } catch (e) {
 *   if (BuildError.is(e) && e.code === 'E_DIGEST_MISMATCH') console.error(e.data.actual)
 * }
 * ```
 */
export class BlobDigestMismatchError extends BuildError {
  override readonly name = 'BlobDigestMismatchError';
  constructor(readonly expected: string, readonly actual: string, size: number) {
    super(
      'E_DIGEST_MISMATCH',
      `blob content does not match its expected digest: expected ${expected}, got ${actual} (${size} bytes); ` +
        'the source sent different bytes than announced (re-fetch it, or fix the digest the caller passed)',
      { data: { expected, actual, size } },
    );
  }
}

/**
 * A blob's length differed from the size the caller announced. Nothing was stored.
 *
 * @example
 * ```ts
 * await store.put(stream, { size: 10 }).catch((e) => e.code === 'E_SIZE_MISMATCH')
 * ```
 */
export class BlobSizeMismatchError extends BuildError {
  override readonly name = 'BlobSizeMismatchError';
  constructor(readonly expectedSize: number, readonly actualSize: number, expected?: string) {
    super(
      'E_SIZE_MISMATCH',
      `blob${expected ? ` ${expected}` : ''} has ${actualSize > expectedSize ? 'more than' : 'only'} ` +
        `${actualSize} bytes but ${expectedSize} were announced; the source was truncated or the size is wrong`,
      { data: { expectedSize, actualSize, ...(expected ? { expected } : {}) } },
    );
  }
}

/**
 * A stored blob no longer hashes to its digest (disk corruption, an in-place edit through a
 * hardlink). The store has removed it; fetching or rebuilding it again repairs the cache.
 *
 * @example
 * ```ts
 * store.get(digest).on('error', (e) => { if (e.code === 'E_BLOB_CORRUPT') console.warn(e.message) })
 * ```
 */
export class BlobCorruptError extends BuildError {
  override readonly name = 'BlobCorruptError';
  constructor(readonly digest: string, readonly path: string, actual: string) {
    super(
      'E_BLOB_CORRUPT',
      `stored blob ${digest} at ${path} is corrupt (its content hashes to ${actual}); ` +
        'it has been removed from the cache, so the next build fetches or rebuilds it',
      { data: { digest, path, actual } },
    );
  }
}

/**
 * The blob is not in the store.
 *
 * @example
 * ```ts
 * await store.getBytes(digest).catch((e) => e.code === 'E_BLOB_NOT_FOUND')
 * ```
 */
export class BlobNotFoundError extends BuildError {
  override readonly name = 'BlobNotFoundError';
  constructor(readonly digest: string, path: string) {
    super('E_BLOB_NOT_FOUND', `blob ${digest} is not in the content store (looked at ${path})`, {
      data: { digest, path },
    });
  }
}

/**
 * A string that is not a well-formed `sha256:`/`sha512:` digest was used where a digest is
 * required. Checked before any path is built from it, so it can never escape the store.
 *
 * @example
 * ```ts
 * expect(() => store.pathOf('sha256:../../etc' as Digest)).toThrow(InvalidDigestError)
 * ```
 */
export class InvalidDigestError extends BuildError {
  override readonly name = 'InvalidDigestError';
  constructor(readonly value: string) {
    super(
      'E_INVALID_DIGEST',
      `not a valid digest: ${JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value)}; ` +
        'expected "sha256:" followed by 64 lowercase hex digits (or "sha512:" and 128)',
      { data: { value } },
    );
  }
}

/**
 * The file system holding the cache is full. Content already stored is intact; the partial write
 * has been removed.
 *
 * @example
 * ```ts
 * await store.put(big).catch((e) => { if (e.code === 'E_NO_SPACE') console.error('run: build-image prune') })
 * ```
 */
export class NoSpaceError extends BuildError {
  override readonly name = 'NoSpaceError';
  constructor(readonly path: string, cause: unknown) {
    super(
      'E_NO_SPACE',
      `no space left on the device holding the build cache (${path}); ` +
        'free space, prune the cache (build-image prune --max-bytes …), or point BUILD_IMAGE_CACHE_DIR elsewhere',
      { cause, data: { path } },
    );
  }
}

/**
 * A cache-key part list cannot be framed: a duplicated singleton or name, a duplicated path in a
 * file list, or a field of the wrong type.
 *
 * @example
 * ```ts
 * expect(() => computeCacheKey([{ type: 'op', value: 'a' }, { type: 'op', value: 'b' }])).toThrow(InvalidKeyPartError)
 * ```
 */
export class InvalidKeyPartError extends BuildError {
  override readonly name = 'InvalidKeyPartError';
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_INVALID_KEY_PART', message, { data });
  }
}

/** Maps an errno error to a typed store error where one exists; returns others unchanged. */
export function mapFsError(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new NoSpaceError(path, error);
  return error;
}
