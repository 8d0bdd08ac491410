/**
 * `--cache-from`: reads a cache written by {@link exportCache} and records its entries in the
 * local index, with their pre-images, after fetching (and verifying) every blob they reference.
 *
 * As in BuildKit, nothing here fails a build: a missing cache is an `E_CACHE_NOT_FOUND` warning
 * (normal on a first build), an unreachable or unreadable one an `E_CACHE_IMPORT` warning, and a
 * record or blob that fails verification is left out with an `E_CACHE_CORRUPT` warning.
 */
import { deadline } from './deadline.js';
import type { CacheIndex, CacheKey, ContentStore, Descriptor, Digest, LayerDescriptor } from '@build-image/cache';
import { isDigest, referencesOf } from '@build-image/cache';
import pLimit from 'p-limit';
import { sha256Digest } from '../image/json.js';
import type { RegistryClientOptions } from '../registry/client.js';
import type { CacheReader } from './backend.js';
import { errorMessage, RemoteCacheError, type RemoteCacheWarning } from './errors.js';
import { parseCacheConfig, parseCacheManifest, recordBlobs, type CacheConfigRecord } from './format.js';
import { GhaCacheReader } from './gha-backend.js';
import type { GhaClientOptions } from './gha.js';
import { LocalCacheReader } from './local.js';
import { restoreCacheMount, type CacheMountDir } from './mounts.js';
import { RegistryCacheReader } from './registry.js';
import type { CacheImportSpec } from './spec.js';

/** What to import and where to. */
export interface ImportCacheInput {
  source: CacheImportSpec;
  index: CacheIndex;
  store: ContentStore;
  /** Cache mounts to restore: the exported contents of mount `id` are extracted into `dir`. */
  mounts?: readonly CacheMountDir[];
}

/** Options of {@link importCache}. */
export interface ImportCacheOptions {
  /** Overall time limit in ms; default the spec's `timeout=`, else 10 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  registry?: RegistryClientOptions;
  gha?: GhaClientOptions;
  /** Parallel downloads, default 4. */
  concurrency?: number;
  /** Use this reader instead of the one the spec names (tests, custom backends). */
  reader?: CacheReader;
}

/** What {@link importCache} did. */
export interface ImportCacheResult {
  cache: string;
  /** False when there was no cache (or it could not be read); see `warnings`. */
  found: boolean;
  manifest?: Descriptor;
  /** Keys recorded into the local index by this import. */
  entries: CacheKey[];
  /** Keys the local index already had (with their blobs), left as they were. */
  alreadyPresent: CacheKey[];
  blobs: { fetched: Digest[]; present: number };
  /** Cache mounts the cache holds; `restoredTo` when a directory was given for the id. */
  mounts: Array<{ id: string; layer: LayerDescriptor; restoredTo?: string }>;
  warnings: RemoteCacheWarning[];
  durationMs: number;
}

/**
 * The reader a spec names.
 *
 * @example
 * ```ts
 * const reader = cacheReaderFor(parseCacheImportSpec('type=local,src=/tmp/c'))
 * ```
 */
export function cacheReaderFor(spec: CacheImportSpec, options: Pick<ImportCacheOptions, 'registry' | 'gha'> = {}): CacheReader {
  switch (spec.type) {
    case 'registry':
      return new RegistryCacheReader(spec.ref, options.registry);
    case 'local':
      return new LocalCacheReader(spec.src, { ...(spec.tag ? { tag: spec.tag } : {}), ...(spec.digest ? { digest: spec.digest } : {}) });
    case 'gha':
      return new GhaCacheReader(spec, options.gha);
  }
}

/**
 * Imports a remote cache into the local index and store. Never throws for a remote failure.
 *
 * @example
 * ```ts
 * const r = await importCache({ source: parseCacheImportSpec('type=local,src=/tmp/c'), index, store })
 * for (const w of r.warnings) log(`cache import: ${w.message}`)
 * ```
 */
export async function importCache(input: ImportCacheInput, options: ImportCacheOptions = {}): Promise<ImportCacheResult> {
  const started = Date.now();
  const reader = options.reader ?? cacheReaderFor(input.source, options);
  const result: ImportCacheResult = {
    cache: reader.name,
    found: false,
    entries: [],
    alreadyPresent: [],
    blobs: { fetched: [], present: 0 },
    mounts: [],
    warnings: [],
    durationMs: 0,
  };
  const warn = (code: RemoteCacheWarning['code'], message: string) => result.warnings.push({ code, message });
  const limit = deadline(options.timeoutMs ?? input.source.timeoutMs ?? 10 * 60_000, options.signal);
  try {
    await importInto(input, reader, limit.signal, result, warn, options.concurrency ?? 4);
  } catch (e) {
    const code = RemoteCacheError.is(e) && (e.code === 'E_CACHE_CORRUPT' || e.code === 'E_CACHE_NOT_FOUND') ? e.code : 'E_CACHE_IMPORT';
    warn(code as RemoteCacheWarning['code'], `cache import from ${reader.name} failed, building without it: ${errorMessage(e)}`);
  } finally {
    limit.dispose();
  }
  result.durationMs = Date.now() - started;
  return result;
}

async function importInto(
  input: ImportCacheInput,
  reader: CacheReader,
  signal: AbortSignal,
  result: ImportCacheResult,
  warn: (code: RemoteCacheWarning['code'], message: string) => void,
  concurrency: number,
): Promise<void> {
  const { store, index } = input;
  const found = await reader.getManifest(signal);
  if (!found) {
    warn('E_CACHE_NOT_FOUND', `no cache found at ${reader.name}; building without it (it is created by --cache-to)`);
    return;
  }
  const manifest = parseCacheManifest(found.bytes, reader.name);
  result.manifest = { mediaType: manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(found.bytes), size: found.bytes.length };
  let configBytes = found.config;
  if (!configBytes) {
    await reader.fetchBlob(manifest.config, store, signal);
    configBytes = await store.getBytes(manifest.config.digest);
  } else if (sha256Digest(configBytes) !== manifest.config.digest) {
    throw new RemoteCacheError('E_CACHE_CORRUPT', `${reader.name}: the cache config does not match its digest ${manifest.config.digest}`, {});
  }
  const config = parseCacheConfig(configBytes, reader.name);
  result.found = true;

  const listed = new Map<string, Descriptor>(manifest.layers.map((l) => [l.digest, l]));
  // A record that names a blob the manifest does not carry cannot be satisfied: drop it.
  const records: CacheConfigRecord[] = [];
  for (const r of config.records) {
    let blobs: Digest[];
    try {
      if (!r || typeof r.key !== 'string' || !isDigest(r.key) || !r.result || typeof r.result !== 'object') throw new Error('malformed record');
      blobs = recordBlobs(r);
    } catch (e) {
      warn('E_CACHE_CORRUPT', `${reader.name}: ignored a cache record (${errorMessage(e)})`);
      continue;
    }
    const missing = blobs.find((d) => !listed.has(d));
    if (missing) {
      warn('E_CACHE_CORRUPT', `${reader.name}: ignored record ${r.key}: blob ${missing} is not in the cache manifest`);
      continue;
    }
    records.push(r);
  }
  const mounts = config.mounts.filter((m) => {
    const ok = m && typeof m.id === 'string' && m.layer && listed.has(m.layer.digest);
    if (!ok) warn('E_CACHE_CORRUPT', `${reader.name}: ignored a cache mount entry that is malformed or not in the manifest`);
    return ok;
  });

  // Fetch what the store lacks. A failed blob takes down only the records that need it.
  const needed = new Set<string>([...records.flatMap(recordBlobs), ...mounts.map((m) => m.layer.digest)]);
  const failed = new Map<string, string>();
  const limit = pLimit(Math.max(1, concurrency));
  await Promise.all(
    [...needed].map((d) =>
      limit(async () => {
        const desc = listed.get(d)!;
        try {
          if (await store.has(desc.digest)) {
            result.blobs.present++;
            return;
          }
          await reader.fetchBlob(desc, store, signal);
          result.blobs.fetched.push(desc.digest);
        } catch (e) {
          failed.set(d, errorMessage(e));
        }
      }),
    ),
  );
  if (failed.size > 0) {
    const [first, reason] = [...failed][0]!;
    warn('E_CACHE_IMPORT', `${reader.name}: ${failed.size} blob(s) could not be fetched (first: ${first}: ${reason}); the entries needing them were not imported`);
  }

  for (const r of records) {
    if (recordBlobs(r).some((d) => failed.has(d))) continue;
    try {
      const existing = await index.peek(r.key);
      if (existing && (await Promise.all(referencesOf(existing).map((d) => store.has(d)))).every(Boolean)) {
        result.alreadyPresent.push(r.key);
        continue;
      }
      // The local history explains misses against the last local build; only seed it when empty.
      const seedHistory = r.stepId !== undefined && r.preimage !== undefined && !(await index.findNearest(r.stepId));
      await index.put(r.key, r.result, r.preimage, seedHistory ? { stepId: r.stepId! } : {});
      result.entries.push(r.key);
    } catch (e) {
      warn('E_CACHE_CORRUPT', `${reader.name}: ignored record ${r.key}: ${errorMessage(e)}`);
    }
  }

  const targets = new Map((input.mounts ?? []).map((m) => [m.id, m.dir]));
  for (const m of mounts) {
    const entry: ImportCacheResult['mounts'][number] = { id: m.id, layer: m.layer };
    const dir = targets.get(m.id);
    if (dir !== undefined && !failed.has(m.layer.digest)) {
      try {
        await restoreCacheMount(store, m.layer, dir);
        entry.restoredTo = dir;
      } catch (e) {
        warn('E_CACHE_IMPORT', `${reader.name}: cache mount ${m.id} could not be restored into ${dir}: ${errorMessage(e)}`);
      }
    }
    result.mounts.push(entry);
  }
}
