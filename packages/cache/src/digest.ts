/**
 * Digest strings: parsing, validation and computing. Only algorithms the OCI image spec registers
 * (sha256, sha512) are accepted, and only in canonical lowercase hex, so a digest can always be
 * turned into a file name without escaping the store.
 */
import { createHash } from 'node:crypto';
import { InvalidDigestError } from './errors.js';
import type { Digest } from './types.js';

/**
 * Digest algorithms the store accepts.
 *
 * @example
 * ```ts
 * digestOf(bytes, 'sha512' satisfies DigestAlgorithm)
 * ```
 */
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([0-9a-f]+)$/;

/**
 * Splits a digest into algorithm and hex, throwing `E_INVALID_DIGEST` if it is not canonical.
 *
 * @example
 * ```ts
 * parseDigest('sha256:' + 'a'.repeat(64)) // { algorithm: 'sha256', hex: 'aaaa…' }
 * ```
 */
export function parseDigest(value: string): { algorithm: DigestAlgorithm; hex: string } {
  const m = typeof value === 'string' ? DIGEST_RE.exec(value) : null;
  const algorithm = m?.[1] as DigestAlgorithm | undefined;
  const hex = m?.[2];
  if (!algorithm || !hex || hex.length !== HEX_LENGTH[algorithm]) throw new InvalidDigestError(String(value));
  return { algorithm, hex };
}

/**
 * True when `value` is a canonical sha256/sha512 digest.
 *
 * @example
 * ```ts
 * isDigest('sha256:abc') // false (too short)
 * ```
 */
export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  const m = DIGEST_RE.exec(value);
  return !!m && m[2]!.length === HEX_LENGTH[m[1] as DigestAlgorithm];
}

/**
 * Validates and brands a string as a {@link Digest}.
 *
 * @example
 * ```ts
 * const d = toDigest(process.argv[2]) // throws E_INVALID_DIGEST on junk
 * ```
 */
export function toDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

/**
 * The digest of some bytes (sha256 unless told otherwise).
 *
 * @example
 * ```ts
 * digestOf('') // 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 * ```
 */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}
