/**
 * Remote cache export/import (`--cache-to` / `--cache-from`): registry, local OCI layout
 * directory, GitHub Actions cache. See README.md here for the format.
 */
export { parseCacheExportSpec, parseCacheImportSpec, parseDuration, type CacheExportSpec, type CacheImportSpec, type CacheMode, type GhaEndpoint } from './spec.js';
export { exportCache, cacheWriterFor, type ExportCacheInput, type ExportCacheOptions, type ExportCacheResult } from './export.js';
export { importCache, cacheReaderFor, type ImportCacheInput, type ImportCacheOptions, type ImportCacheResult } from './import.js';
export {
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  CACHE_BLOB_MEDIA_TYPE,
  MOUNT_ID_ANNOTATION,
  buildCacheArtifact,
  parseCacheConfig,
  parseCacheManifest,
  type CacheConfig,
  type CacheConfigMount,
  type CacheConfigRecord,
  type CacheExportEntry,
  type SkippedItem,
} from './format.js';
export { packCacheMounts, restoreCacheMount, type CacheMountDir } from './mounts.js';
export { RemoteCacheError, type RemoteCacheCode, type RemoteCacheWarning } from './errors.js';
export type { BlobOutcome, CacheReader, CacheWriter, FoundManifest } from './backend.js';
export { RegistryCacheReader, RegistryCacheWriter } from './registry.js';
export { LocalCacheReader, LocalCacheWriter } from './local.js';
export { GhaCacheReader, GhaCacheWriter, ghaBlobKey, ghaManifestPrefix } from './gha-backend.js';
export { GhaCacheClient, GHA_CACHE_VERSION, type GhaClientOptions, type GhaEntry } from './gha.js';
