/**
 * The one serialization this engine uses for every JSON document it digests (configs, manifests,
 * indexes, index.json). A digest is over exact bytes, so the bytes must not depend on how an object
 * was built: keys are sorted (by UTF-16 code unit, like JSON.stringify's own key order would not be),
 * `undefined` members are dropped, no whitespace, and `<`, `>`, `&`, U+2028, U+2029 are escaped as
 * `\u003c`... the way Go's encoding/json writes them, so documents read the same as BuildKit's.
 */
import { createHash } from 'node:crypto';
import type { BlobStore, Descriptor, Digest } from '@build-image/cache';
import { BuildError } from '@build-image/errors';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** A digest this engine can address a blob by, or a typed error (never trust a digest to be a path). */
export function parseDigest(value: string, what = 'digest'): Digest {
  if (!DIGEST_RE.test(value)) {
    throw new BuildError('E_INVALID_DIGEST', `Invalid ${what} "${value}": expected "sha256:" followed by 64 lowercase hex digits.`, {
      data: { value },
    });
  }
  return value as Digest;
}

/** True when `value` is a well-formed `sha256:<64 hex>` digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** The hex part of a sha256 digest: the file name under `blobs/sha256/`. */
export function digestHex(digest: Digest): string {
  return parseDigest(digest).slice('sha256:'.length);
}

/**
 * sha256 of bytes as a {@link Digest}.
 *
 * @example
 * sha256Digest('') // 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 */
export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

function sortValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : sortValue(v)));
  if (value !== null && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return sortValue((value as { toJSON(): unknown }).toJSON());
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined && typeof v !== 'function') out[key] = sortValue(v);
    }
    return out;
  }
  return value;
}

/**
 * Stable JSON text of `value`: sorted keys, no whitespace, Go-style escaping of HTML characters.
 *
 * @example
 * canonicalJson({ b: 1, a: '<x>' }) // '{"a":"\\u003cx\\u003e","b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** {@link canonicalJson} as UTF-8 bytes: what goes into a blob. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/**
 * Writes `value` as canonical JSON into the store and returns its descriptor.
 *
 * @example
 * const desc = await putJson(store, manifest, MediaType.OciManifest)
 */
export async function putJson(store: BlobStore, value: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = canonicalJsonBytes(value);
  const { digest, size } = await store.putBytes(bytes, { expected: sha256Digest(bytes) });
  return { mediaType, digest, size };
}

/** Reads and parses a JSON blob from the store (verified by the store). */
export async function getJson<T>(store: BlobStore, digest: Digest): Promise<T> {
  const bytes = await store.getBytes(digest);
  return JSON.parse(bytes.toString('utf8')) as T;
}
