/**
 * Cache mounts (`RUN --mount=type=cache`) as cache content: each mount directory becomes one tar
 * layer (modes, owners, symlinks, hardlinks kept; the same layer writer as image layers), and is
 * extracted back into a directory on import. BuildKit never exports these (moby/buildkit#1474).
 */
import type { ContentStore, Digest, LayerDescriptor } from '@build-image/cache';
import { stat } from 'node:fs/promises';
import { applyLayer } from '../layer/apply.js';
import { writeLayerFromDirectory } from '../layer/directory.js';
import { errorMessage } from './errors.js';
import type { CacheConfigMount, SkippedItem } from './format.js';

/** A cache mount to export or restore: its id (BuildKit's `id=`, default the target path) and directory. */
export interface CacheMountDir {
  id: string;
  dir: string;
}

/**
 * Writes each mount directory into `store` as a gzip tar layer. A missing or unreadable directory
 * is reported as skipped. Layers are sorted by id so the cache config does not depend on order.
 *
 * @example
 * ```ts
 * const { mounts } = await packCacheMounts([{ id: '/root/.npm', dir: '/var/cache/mounts/npm' }], store)
 * ```
 */
export async function packCacheMounts(
  dirs: readonly CacheMountDir[],
  store: ContentStore,
  options: { sourceDateEpoch?: number } = {},
): Promise<{ mounts: CacheConfigMount[]; skipped: SkippedItem[] }> {
  const mounts: CacheConfigMount[] = [];
  const skipped: SkippedItem[] = [];
  const seen = new Set<string>();
  for (const m of [...dirs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (seen.has(m.id)) {
      skipped.push({ kind: 'mount', id: m.id, reason: 'duplicate mount id; the first directory was exported' });
      continue;
    }
    seen.add(m.id);
    try {
      const st = await stat(m.dir);
      if (!st.isDirectory()) throw new Error(`${m.dir} is not a directory`);
      const layer = await writeLayerFromDirectory(m.dir, store, {
        // A cache dir is tool state, not an image: carry every extended attribute (overlay's own
        // excepted), since a tool may have set them and will expect them back.
        xattrs: 'all',
        ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
      });
      mounts.push({ id: m.id, layer: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: layer.diffId } });
    } catch (e) {
      skipped.push({ kind: 'mount', id: m.id, reason: errorMessage(e) });
    }
  }
  return { mounts, skipped };
}

/**
 * Extracts an exported cache mount layer (already in `store`) into `dir`, over what is there.
 * Owners are restored when running as (namespaced) root.
 *
 * @example
 * ```ts
 * await restoreCacheMount(store, mount.layer, '/var/cache/mounts/npm')
 * ```
 */
export async function restoreCacheMount(store: ContentStore, layer: LayerDescriptor, dir: string): Promise<void> {
  await applyLayer(dir, store.get(layer.digest as Digest));
}
