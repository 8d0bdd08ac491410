/**
 * The remote cache artifact: one OCI image manifest whose config blob lists the cache records and
 * whose `layers` are every blob those records (and exported cache mounts) reference, unchanged.
 * See README.md in this directory for the format and why it was chosen.
 */
import type { CacheIndex, CacheKey, CacheResult, ContentStore, Descriptor, Digest, KeyPreimage, LayerDescriptor } from '@build-image/cache';
import { isDigest, referencesOf } from '@build-image/cache';
import { canonicalJsonBytes, sha256Digest } from '../image/json.js';
import { MediaType } from '../image/mediaTypes.js';
import type { ImageManifest } from '../image/types.js';
import { RemoteCacheError } from './errors.js';
import type { CacheMode } from './spec.js';

/** `artifactType` of the cache manifest (OCI 1.1). */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.build-image.cache.v1+json';
/** Media type of the config blob that lists the records. */
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.build-image.cache.config.v1+json';
/** Media type given to non-layer blobs a result references (`CacheResult.blobs`). */
export const CACHE_BLOB_MEDIA_TYPE = 'application/octet-stream';
/** Annotation on a manifest layer that holds the contents of a cache mount: the mount's id. */
export const MOUNT_ID_ANNOTATION = 'dev.build-image.cache.mount.id';

/** One cache entry as exported. */
export interface CacheConfigRecord {
  key: CacheKey;
  stepId?: string;
  preimage?: KeyPreimage;
  result: CacheResult;
}

/** The contents of one `RUN --mount=type=cache` directory, as a tar layer. */
export interface CacheConfigMount {
  id: string;
  layer: LayerDescriptor;
}

/** The config blob of a cache manifest. */
export interface CacheConfig {
  /** Always `build-image.cache`; tells our config apart from any other JSON. */
  schema: 'build-image.cache';
  version: 1;
  records: CacheConfigRecord[];
  mounts: CacheConfigMount[];
}

/** A step result the solver offers for export. */
export interface CacheExportEntry {
  key: CacheKey;
  stepId?: string;
  /** `target`: a step of the stage that produced the result; exported with mode=min and max. */
  stage: 'target' | 'intermediate';
}

/** Something that could not be exported, and why. */
export interface SkippedItem {
  kind: 'entry' | 'blob' | 'mount' | 'manifest';
  /** Cache key, digest, mount id or the cache's name. */
  id: string;
  reason: string;
}

/**
 * Reads the records to export from the local index: every `target` entry, plus every
 * `intermediate` one with mode=max. Entries missing from the index are reported, not thrown.
 * Records come out sorted by key, so the same cache gives the same config bytes.
 *
 * @example
 * ```ts
 * const { records, skipped } = await collectRecords(entries, index, 'max')
 * ```
 */
export async function collectRecords(
  entries: readonly CacheExportEntry[],
  index: CacheIndex,
  mode: CacheMode,
): Promise<{ records: CacheConfigRecord[]; skipped: SkippedItem[] }> {
  const chosen = new Map<string, CacheExportEntry>();
  for (const e of entries) {
    if (mode === 'min' && e.stage !== 'target') continue;
    const prev = chosen.get(e.key);
    if (!prev || (prev.stepId === undefined && e.stepId !== undefined)) chosen.set(e.key, e);
  }
  const records: CacheConfigRecord[] = [];
  const skipped: SkippedItem[] = [];
  for (const e of [...chosen.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const rec = await index.peek(e.key);
    if (!rec) {
      skipped.push({ kind: 'entry', id: e.key, reason: 'not in the local cache index (pruned?)' });
      continue;
    }
    const result: CacheResult = {};
    if (rec.layers) result.layers = rec.layers;
    if (rec.config !== undefined) result.config = rec.config;
    if (rec.blobs) result.blobs = rec.blobs;
    if (rec.metadata) result.metadata = rec.metadata;
    const preimage = await index.getPreimage(e.key);
    records.push({ key: e.key, ...(e.stepId !== undefined ? { stepId: e.stepId } : {}), ...(preimage ? { preimage } : {}), result });
  }
  return { records, skipped };
}

/**
 * The descriptors of every blob the records and mounts reference, first use first, each once.
 * Sizes of non-layer blobs come from the store; a blob missing there is reported and every record
 * that needs it is dropped.
 *
 * @example
 * ```ts
 * const { blobs, records } = await blobDescriptors(collected.records, mounts, store)
 * ```
 */
export async function blobDescriptors(
  records: CacheConfigRecord[],
  mounts: CacheConfigMount[],
  store: ContentStore,
): Promise<{ blobs: Descriptor[]; records: CacheConfigRecord[]; skipped: SkippedItem[] }> {
  const byDigest = new Map<string, Descriptor>();
  const skipped: SkippedItem[] = [];
  const kept: CacheConfigRecord[] = [];
  for (const r of records) {
    const own: Descriptor[] = [];
    let missing: string | undefined;
    for (const l of r.result.layers ?? []) {
      if (!(await store.stat(l.digest))) missing ??= l.digest;
      own.push({ mediaType: l.mediaType, digest: l.digest, size: l.size });
    }
    for (const d of r.result.blobs ?? []) {
      const st = await store.stat(d);
      if (!st) missing ??= d;
      else own.push({ mediaType: CACHE_BLOB_MEDIA_TYPE, digest: d, size: st.size });
    }
    if (missing) {
      skipped.push({ kind: 'entry', id: r.key, reason: `blob ${missing} is not in the local store` });
      continue;
    }
    kept.push(r);
    for (const d of own) if (!byDigest.has(d.digest)) byDigest.set(d.digest, d);
  }
  for (const m of mounts) {
    if (!byDigest.has(m.layer.digest)) {
      byDigest.set(m.layer.digest, { mediaType: m.layer.mediaType, digest: m.layer.digest, size: m.layer.size, annotations: { [MOUNT_ID_ANNOTATION]: m.id } });
    }
  }
  return { blobs: [...byDigest.values()], records: kept, skipped };
}

/**
 * Blob digests a record needs.
 *
 * @example
 * recordBlobs({ key, result: { layers: [l], blobs: [d] } }) // [l.digest, d]
 */
export function recordBlobs(r: CacheConfigRecord): Digest[] {
  return referencesOf(r.result);
}

/**
 * The config and manifest bytes for the given records, mounts and blobs. Canonical JSON (sorted
 * keys), so the same inputs always give the same manifest digest.
 *
 * @example
 * ```ts
 * const { manifest, manifestDescriptor, config, configDescriptor } = buildCacheArtifact(records, mounts, blobs)
 * ```
 */
export function buildCacheArtifact(
  records: CacheConfigRecord[],
  mounts: CacheConfigMount[],
  blobs: Descriptor[],
): { config: Buffer; configDescriptor: Descriptor; manifest: Buffer; manifestDescriptor: Descriptor } {
  const cfg: CacheConfig = { schema: 'build-image.cache', version: 1, records, mounts };
  const config = canonicalJsonBytes(cfg);
  const configDescriptor: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Digest(config), size: config.length };
  const manifestObj: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: configDescriptor,
    layers: blobs,
  };
  const manifest = canonicalJsonBytes(manifestObj);
  return { config, configDescriptor, manifest, manifestDescriptor: { mediaType: MediaType.OciManifest, digest: sha256Digest(manifest), size: manifest.length } };
}

/**
 * Parses and checks a cache manifest; throws `E_CACHE_IMPORT` when it is not ours.
 *
 * @example
 * ```ts
 * const m = parseCacheManifest(bytes, '127.0.0.1:5000/app:cache'); m.config.digest
 * ```
 */
export function parseCacheManifest(bytes: Uint8Array, where: string): ImageManifest {
  let m: ImageManifest;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as ImageManifest;
  } catch (e) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `the cache manifest at ${where} is not valid JSON`, { where }, e);
  }
  if (!m || m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `${where} is not a cache manifest (no config or layers)`, { where });
  }
  if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    const hint = m.config.mediaType === 'application/vnd.buildkit.cacheconfig.v0' ? ' (it was written by BuildKit, whose cache format build-image does not read)' : '';
    throw new RemoteCacheError('E_CACHE_IMPORT', `${where} is not a build-image cache: its config media type is ${m.config.mediaType}${hint}`, {
      where,
      mediaType: m.config.mediaType,
    });
  }
  for (const l of m.layers) {
    if (!isDigest(l.digest) || !Number.isSafeInteger(l.size) || l.size < 0) {
      throw new RemoteCacheError('E_CACHE_IMPORT', `${where}: the cache manifest lists a malformed blob descriptor`, { where });
    }
  }
  return m;
}

/**
 * Parses and checks a cache config blob; throws `E_CACHE_IMPORT` when malformed.
 *
 * @example
 * ```ts
 * const { records, mounts } = parseCacheConfig(await store.getBytes(m.config.digest), where)
 * ```
 */
export function parseCacheConfig(bytes: Uint8Array, where: string): CacheConfig {
  let c: CacheConfig;
  try {
    c = JSON.parse(Buffer.from(bytes).toString('utf8')) as CacheConfig;
  } catch (e) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `the cache config of ${where} is not valid JSON`, { where }, e);
  }
  if (!c || c.schema !== 'build-image.cache' || !Array.isArray(c.records)) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `the cache config of ${where} is not a build-image cache config`, { where });
  }
  if (c.version !== 1) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `the cache at ${where} has format version ${String(c.version)}; this build-image reads version 1 (upgrade build-image)`, {
      where,
      version: c.version,
    });
  }
  c.mounts ??= [];
  return c;
}
