/**
 * The vocabulary the cache shares with its callers. The builder hands over opaque digests and
 * key parts; nothing here knows what a Dockerfile or a container is.
 */
import type { Readable } from 'node:stream';

/**
 * `sha256:<64 lowercase hex>`. Branded so a plain string cannot be passed by accident.
 *
 * @example
 * ```ts
 * const d: Digest = toDigest('sha256:' + hex)
 * ```
 */
export type Digest = string & { readonly __brand: 'Digest' };

/**
 * A cache key: the digest of a framed key pre-image (see keys.ts).
 *
 * @example
 * ```ts
 * const { key }: { key: CacheKey } = computeCacheKey(parts)
 * ```
 */
export type CacheKey = string & { readonly __brand: 'CacheKey' };

/**
 * An OCI content descriptor (image-spec descriptor.md).
 *
 * @example
 * ```ts
 * const d: Descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size }
 * ```
 */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string; 'os.version'?: string };
  urls?: string[];
}

/**
 * What a blob store can do. `ContentStore` (the on-disk store) implements it.
 *
 * @example
 * ```ts
 * async function copyBlob(from: BlobStore, to: BlobStore, d: Digest) { await to.put(from.get(d), { expected: d }) }
 * ```
 */
export interface BlobStore {
  /** True when a verified blob with this digest is present. */
  has(digest: Digest): Promise<boolean>;
  /** Size in bytes, or undefined when absent. */
  stat(digest: Digest): Promise<{ size: number } | undefined>;
  /**
   * Streams `source` into the store. The digest is computed while writing; when `expected` is
   * given a mismatch rejects (nothing is stored). Resolves once the blob is durable under its digest.
   */
  put(source: Readable | AsyncIterable<Uint8Array>, options?: { expected?: Digest; size?: number }): Promise<{ digest: Digest; size: number }>;
  /** Convenience for small blobs (manifests, configs): same guarantees as put. */
  putBytes(data: Uint8Array | string, options?: { expected?: Digest }): Promise<{ digest: Digest; size: number }>;
  /** A stream of the blob that errors (and removes the blob) if its content does not match the digest. */
  get(digest: Digest): Readable;
  /** Whole small blob, verified. */
  getBytes(digest: Digest): Promise<Buffer>;
  delete(digest: Digest): Promise<void>;
  /** Absolute path of the blob file, for zero-copy readers (tar extraction, hardlinking into a layout). */
  pathOf(digest: Digest): string;
}
