/**
 * @build-image/cache: a content-addressed blob store, a cache index (key → result) and explainable
 * cache keys. It knows nothing of Dockerfiles, containers or tar; keys arrive as typed parts the
 * builder assembles, blobs as byte streams.
 */
export type * from './types.js';
export { ContentStore } from './content-store.js';
export type { ContentStoreOptions, PutOptions, BlobInfo } from './content-store.js';
export { CacheIndex, referencesOf } from './cache-index.js';
export type {
  CacheIndexOptions,
  CacheRecord,
  CacheResult,
  DiskUsage,
  LayerDescriptor,
  NearestRecord,
  PruneOptions,
  PruneResult,
} from './cache-index.js';
export { CACHE_KEY_VERSION, computeCacheKey, keyOfPreimage, comparePaths } from './keys.js';
export type { FileEntry, KeyPart, KeyPartType, KeyPreimage } from './keys.js';
export { explainMiss, diffFiles, formatMissReason, formatMissReasons } from './explain.js';
export type { MissReason, MissReasonKind } from './explain.js';
export { digestOf, isDigest, parseDigest, toDigest } from './digest.js';
export type { DigestAlgorithm } from './digest.js';
export { CACHE_FORMAT_VERSION, CacheLayout, resolveCacheDir } from './layout.js';
export {
  BlobCorruptError,
  BlobDigestMismatchError,
  BlobNotFoundError,
  BlobSizeMismatchError,
  InvalidDigestError,
  InvalidKeyPartError,
  NoSpaceError,
} from './errors.js';
