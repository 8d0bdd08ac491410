/**
 * `--cache-to`: writes the cache records of a finished build (and optionally cache-mount
 * contents) to a registry, a local directory or the GitHub Actions cache.
 *
 * Fail-soft within a time budget: a blob that cannot be uploaded (network, denied, throttled,
 * budget used up) is reported as skipped, the records that need it are left out, and the manifest
 * that is published lists only what is really there. Nothing here throws for a remote failure; a
 * build never fails because its cache could not be saved.
 */
import { deadline } from './deadline.js';
import type { CacheIndex, CacheKey, ContentStore, Descriptor, Digest } from '@build-image/cache';
import pLimit from 'p-limit';
import type { RegistryClientOptions } from '../registry/client.js';
import type { BlobOutcome, CacheWriter } from './backend.js';
import { errorMessage, type RemoteCacheWarning } from './errors.js';
import { blobDescriptors, buildCacheArtifact, collectRecords, recordBlobs, type CacheExportEntry, type SkippedItem } from './format.js';
import { GhaCacheWriter } from './gha-backend.js';
import type { GhaClientOptions } from './gha.js';
import { LocalCacheWriter } from './local.js';
import { packCacheMounts, type CacheMountDir } from './mounts.js';
import { RegistryCacheWriter } from './registry.js';
import type { CacheExportSpec, CacheMode } from './spec.js';

/** What the solver hands over after a build. */
export interface ExportCacheInput {
  /** The steps of the build, each with its key and whether it belongs to the exported target stage. */
  entries: readonly CacheExportEntry[];
  index: CacheIndex;
  store: ContentStore;
  /** Cache-mount directories whose contents to export as well (any mode). */
  mounts?: readonly CacheMountDir[];
}

/** Options of {@link exportCache}. */
export interface ExportCacheOptions {
  /** Upload budget in ms; default the spec's `timeout=`, else 5 minutes. */
  timeoutMs?: number;
  /** Extra time for publishing the manifest after the budget, in ms. Default 30 s. */
  commitTimeoutMs?: number;
  /** Cancels the export (what was not done yet is skipped). */
  signal?: AbortSignal;
  /** Registry access (credentials, insecure registries) for type=registry. */
  registry?: RegistryClientOptions;
  /** Retry tuning of the GitHub Actions cache client. */
  gha?: GhaClientOptions;
  /** Parallel uploads, default 4. */
  concurrency?: number;
  /** SOURCE_DATE_EPOCH for cache-mount layers (clamps mtimes, so unchanged mounts give unchanged blobs). */
  sourceDateEpoch?: number;
  /** Use this writer instead of the one the spec names (tests, custom backends). */
  writer?: CacheWriter;
}

/** What {@link exportCache} did. */
export interface ExportCacheResult {
  /** The cache's name: reference, directory or gha scope. */
  cache: string;
  type: CacheExportSpec['type'];
  mode: CacheMode;
  /** The published manifest; absent when nothing could be published. */
  manifest?: Descriptor;
  exported: {
    entries: CacheKey[];
    blobs: Array<{ digest: Digest; size: number; outcome: BlobOutcome }>;
    mounts: string[];
  };
  skipped: SkippedItem[];
  warnings: RemoteCacheWarning[];
  /** Bytes of blobs actually sent (not those the cache had). */
  uploadedBytes: number;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * The writer a spec names.
 *
 * @example
 * ```ts
 * const writer = cacheWriterFor(parseCacheExportSpec('type=local,dest=/tmp/c'))
 * ```
 */
export function cacheWriterFor(spec: CacheExportSpec, options: Pick<ExportCacheOptions, 'registry' | 'gha'> = {}): CacheWriter {
  switch (spec.type) {
    case 'registry':
      return new RegistryCacheWriter(spec.ref, options.registry);
    case 'local':
      return new LocalCacheWriter(spec.dest, spec.tag);
    case 'gha':
      return new GhaCacheWriter(spec, options.gha);
  }
}

/**
 * Exports the cache of a build. Never throws for a remote failure: see `skipped` and `warnings`.
 *
 * @example
 * ```ts
 * const r = await exportCache(parseCacheExportSpec('type=registry,ref=127.0.0.1:5000/app:cache,mode=max'), { entries, index, store })
 * for (const s of r.skipped) log(`cache export: skipped ${s.kind} ${s.id}: ${s.reason}`)
 * ```
 */
export async function exportCache(spec: CacheExportSpec, input: ExportCacheInput, options: ExportCacheOptions = {}): Promise<ExportCacheResult> {
  const started = Date.now();
  const writer = options.writer ?? cacheWriterFor(spec, options);
  const result: ExportCacheResult = {
    cache: writer.name,
    type: spec.type,
    mode: spec.mode,
    exported: { entries: [], blobs: [], mounts: [] },
    skipped: [],
    warnings: [],
    uploadedBytes: 0,
    durationMs: 0,
  };
  const finish = (): ExportCacheResult => {
    if (result.skipped.length > 0) {
      const counts = new Map<string, number>();
      for (const s of result.skipped) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
      const plural: Record<string, string> = { entry: 'entries', blob: 'blobs', mount: 'mounts', manifest: 'manifests' };
      const what = [...counts].map(([k, n]) => `${n} ${n === 1 ? k : plural[k]}`).join(', ');
      result.warnings.push({
        code: 'E_CACHE_EXPORT',
        message: `cache export to ${writer.name} skipped ${what}${result.manifest ? '' : ' and published no manifest'}: ${result.skipped[0]!.reason}${result.skipped.length > 1 ? ' (and more)' : ''}`,
      });
    }
    result.durationMs = Date.now() - started;
    return result;
  };

  if (spec.type === 'registry' && !spec.ociMediaTypes) {
    result.warnings.push({
      code: 'E_CACHE_EXPORT',
      message: 'oci-mediatypes=false is ignored: the cache is always an OCI artifact manifest (layer blobs keep the media types they have in the image)',
    });
  }
  let collected;
  try {
    collected = await collectRecords(input.entries, input.index, spec.mode);
  } catch (e) {
    result.skipped.push({ kind: 'manifest', id: writer.name, reason: `cannot read the local cache index: ${errorMessage(e)}` });
    return finish();
  }
  result.skipped.push(...collected.skipped);
  const packed = input.mounts?.length
    ? await packCacheMounts(input.mounts, input.store, options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {})
    : { mounts: [], skipped: [] };
  result.skipped.push(...packed.skipped);
  const planned = await blobDescriptors(collected.records, packed.mounts, input.store);
  result.skipped.push(...planned.skipped);

  // Phase 1: blobs, within the budget.
  const budgetLimit = deadline(options.timeoutMs ?? spec.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.signal);
  const budget = budgetLimit.signal;
  const failed = new Map<string, string>();
  const limit = pLimit(Math.max(1, options.concurrency ?? 4));
  await Promise.all(
    planned.blobs.map((desc) =>
      limit(async () => {
        if (budget.aborted) {
          failed.set(desc.digest, options.signal?.aborted ? 'export cancelled' : 'time budget used up before this blob was uploaded');
          return;
        }
        try {
          const outcome = await writer.putBlob(desc, input.store, budget);
          result.exported.blobs.push({ digest: desc.digest, size: desc.size, outcome });
          if (outcome === 'uploaded') result.uploadedBytes += desc.size;
        } catch (e) {
          const reason = budget.aborted && !options.signal?.aborted ? `time budget used up during the upload (${errorMessage(e)})` : errorMessage(e);
          failed.set(desc.digest, reason);
        }
      }),
    ),
  );
  budgetLimit.dispose();
  for (const [digest, reason] of failed) result.skipped.push({ kind: 'blob', id: digest, reason });

  // Only what is really in the cache goes into the manifest.
  const records = planned.records.filter((r) => {
    const bad = recordBlobs(r).find((d) => failed.has(d));
    if (bad) result.skipped.push({ kind: 'entry', id: r.key, reason: `blob ${bad} was not uploaded` });
    return !bad;
  });
  const mounts = packed.mounts.filter((m) => {
    const bad = failed.get(m.layer.digest);
    if (bad) result.skipped.push({ kind: 'mount', id: m.id, reason: `its layer was not uploaded: ${bad}` });
    return !bad;
  });
  const wanted = planned.records.length + packed.mounts.length;
  const nothingArrived = (wanted > 0 && records.length + mounts.length === 0) || (planned.blobs.length > 0 && failed.size === planned.blobs.length);
  if (nothingArrived) {
    // Publishing a (nearly) empty manifest would replace a good older cache with nothing useful.
    result.skipped.push({ kind: 'manifest', id: writer.name, reason: 'no blob could be uploaded; the previous cache (if any) was left in place' });
    return finish();
  }
  const used = new Set<string>([...records.flatMap(recordBlobs), ...mounts.map((m) => m.layer.digest)]);
  const artifact = buildCacheArtifact(
    records,
    mounts,
    planned.blobs.filter((b) => used.has(b.digest)),
  );

  // Phase 2: config and manifest, with a short grace period of their own.
  const commitLimit = deadline(options.commitTimeoutMs ?? 30_000, options.signal);
  const commit = commitLimit.signal;
  try {
    await input.store.putBytes(artifact.config, { expected: artifact.configDescriptor.digest });
    await writer.putBlob(artifact.configDescriptor, input.store, commit);
    await writer.putManifest(artifact.manifest, artifact.manifestDescriptor, commit);
    result.manifest = artifact.manifestDescriptor;
    result.exported.entries = records.map((r) => r.key);
    result.exported.mounts = mounts.map((m) => m.id);
  } catch (e) {
    result.skipped.push({ kind: 'manifest', id: writer.name, reason: `publishing the cache manifest failed: ${errorMessage(e)}` });
  } finally {
    commitLimit.dispose();
  }
  return finish();
}
