/**
 * What export and import need from a place that holds a cache (a registry repository, an OCI
 * layout directory, the GitHub Actions cache). Each backend says how a blob gets there and back,
 * and where the manifest lives; the format and the fail-soft policy are shared (export.ts, import.ts).
 */
import type { ContentStore, Descriptor } from '@build-image/cache';

/** How a blob reached the cache. */
export type BlobOutcome = 'exists' | 'uploaded';

/** The writing side of a backend. */
export interface CacheWriter {
  /** Human-readable name of the cache, e.g. `127.0.0.1:5000/app:cache` or `gha scope main`. */
  readonly name: string;
  /** Makes one blob (read from `store`) present in the cache. */
  putBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<BlobOutcome>;
  /** Publishes the manifest as the cache's current one; its config and layers are already there. */
  putManifest(bytes: Buffer, desc: Descriptor, signal: AbortSignal): Promise<void>;
}

/** What a backend found when asked for the cache's manifest. */
export interface FoundManifest {
  bytes: Buffer;
  /** Config bytes when the backend had to fetch them anyway (registry resolve). */
  config?: Buffer;
}

/** The reading side of a backend. */
export interface CacheReader {
  readonly name: string;
  /** The current manifest, or undefined when there is no cache (not an error). */
  getManifest(signal: AbortSignal): Promise<FoundManifest | undefined>;
  /** Streams one blob into `store`, verified against its digest and size. */
  fetchBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<void>;
}
