/** Digest computing and verification for registry traffic. */
import type { Digest } from '@build-image/cache';
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const ALGORITHMS: Record<string, { node: string; hex: number }> = {
  sha256: { node: 'sha256', hex: 64 },
  sha384: { node: 'sha384', hex: 96 },
  sha512: { node: 'sha512', hex: 128 },
};

export { sha256Digest } from '../image/json.js';

/** Digest of `data` with the algorithm `like` uses (sha256 when unknown). */
export function digestLike(like: string, data: Uint8Array | string): Digest {
  const algorithm = like.slice(0, like.indexOf(':'));
  const a = ALGORITHMS[algorithm] ?? ALGORITHMS.sha256!;
  return `${ALGORITHMS[algorithm] ? algorithm : 'sha256'}:${createHash(a.node).update(data).digest('hex')}` as Digest;
}

/** True when `value` is `<algorithm>:<hex>` with a supported algorithm and exact length. */
export function isSupportedDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  const i = value.indexOf(':');
  const a = ALGORITHMS[value.slice(0, i)];
  return !!a && new RegExp(`^[0-9a-f]{${a.hex}}$`).test(value.slice(i + 1));
}

/** Outcome of a verifying stream when it does not match. */
export interface VerifyFailure {
  kind: 'digest' | 'size';
  expected: string | number;
  actual: string | number;
}

/**
 * A pass-through stream that fails (before its final chunk is released downstream finishes) when
 * the bytes do not have `digest` and `size`. Errors are built by `onMismatch` so callers can name
 * the image and registry.
 */
export function verifyingStream(digest: Digest, size: number | undefined, onMismatch: (f: VerifyFailure) => Error): Transform {
  const algorithm = digest.slice(0, digest.indexOf(':'));
  const hash = createHash(ALGORITHMS[algorithm]?.node ?? 'sha256');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (size !== undefined && seen > size) return cb(onMismatch({ kind: 'size', expected: size, actual: seen }));
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && seen !== size) return cb(onMismatch({ kind: 'size', expected: size, actual: seen }));
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== digest) return cb(onMismatch({ kind: 'digest', expected: digest, actual }));
      cb();
    },
  });
}
