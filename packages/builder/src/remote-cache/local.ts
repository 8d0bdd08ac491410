/**
 * Local directory backend: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`).
 * Each export replaces the index entry carrying the same `org.opencontainers.image.ref.name` (the
 * `tag`, default `latest`) and then removes blobs no remaining manifest references, so the
 * directory holds what the current caches need and does not grow with every build (the complaint
 * about BuildKit's append-only local cache). Files are written to a temp name and renamed.
 *
 * Not safe for two exports into one directory at the same moment: the later index wins and its
 * clean-up may remove blobs of the other's manifest.
 */
import type { ContentStore, Descriptor, Digest } from '@build-image/cache';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sha256Digest } from '../image/json.js';
import { Annotation, isIndexMediaType, MediaType } from '../image/mediaTypes.js';
import type { ImageIndex, ImageManifest } from '../image/types.js';
import type { BlobOutcome, CacheReader, CacheWriter, FoundManifest } from './backend.js';
import { RemoteCacheError } from './errors.js';
import { CACHE_ARTIFACT_TYPE } from './format.js';
import { createReadStream } from 'node:fs';

function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg!, hex!);
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function readIndex(dir: string): Promise<ImageIndex | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'index.json'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    const idx = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(idx.manifests)) throw new Error('no manifests array');
    return idx;
  } catch (e) {
    throw new RemoteCacheError('E_CACHE_IMPORT', `${join(dir, 'index.json')} is not a valid OCI image index: ${(e as Error).message}`, { dir }, e);
  }
}

/**
 * Writes a cache into an OCI layout directory (created when missing).
 *
 * @example
 * ```ts
 * const w = new LocalCacheWriter('/tmp/cache', 'latest')
 * ```
 */
export class LocalCacheWriter implements CacheWriter {
  readonly name: string;
  constructor(
    readonly dir: string,
    readonly tag = 'latest',
  ) {
    this.name = `${dir} (tag ${tag})`;
  }

  async putBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<BlobOutcome> {
    const dest = blobPath(this.dir, desc.digest);
    // Blobs are content-addressed and written by rename, so a file of the right size is the blob.
    if ((await sizeOf(dest)) === desc.size) return 'exists';
    await mkdir(join(dest, '..'), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      // store.get verifies the digest as it streams, so a corrupt local blob never lands here.
      await pipeline(store.get(desc.digest as Digest), createWriteStream(tmp, { mode: 0o644 }), { signal });
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return 'uploaded';
  }

  async putManifest(bytes: Buffer, desc: Descriptor, _signal: AbortSignal): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const mpath = blobPath(this.dir, desc.digest);
    if ((await sizeOf(mpath)) !== bytes.length) await writeAtomic(mpath, bytes);
    await writeAtomic(join(this.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    let index: ImageIndex;
    try {
      index = (await readIndex(this.dir)) ?? { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    } catch {
      // An unreadable index.json is replaced rather than blocking every future export.
      index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    }
    const kept = index.manifests.filter((m) => m.annotations?.[Annotation.RefName] !== this.tag);
    kept.push({
      mediaType: MediaType.OciManifest,
      digest: desc.digest,
      size: desc.size,
      artifactType: CACHE_ARTIFACT_TYPE,
      annotations: { [Annotation.RefName]: this.tag },
    } as ImageIndex['manifests'][number]);
    await writeAtomic(join(this.dir, 'index.json'), JSON.stringify({ ...index, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: kept }));
    await this.collectGarbage(kept);
  }

  /** Removes blobs that no manifest in the index references (only when every manifest could be read). */
  private async collectGarbage(manifests: Descriptor[]): Promise<void> {
    const live = new Set<string>();
    const visit = async (d: Descriptor): Promise<boolean> => {
      live.add(d.digest);
      if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest && !isIndexMediaType(d.mediaType)) return true;
      let parsed: ImageManifest & ImageIndex;
      try {
        parsed = JSON.parse(await readFile(blobPath(this.dir, d.digest), 'utf8')) as ImageManifest & ImageIndex;
      } catch {
        return false;
      }
      if (isIndexMediaType(d.mediaType)) {
        for (const m of parsed.manifests ?? []) if (!(await visit(m))) return false;
      } else {
        if (parsed.config) live.add(parsed.config.digest);
        for (const l of parsed.layers ?? []) live.add(l.digest);
      }
      return true;
    };
    for (const m of manifests) if (!(await visit(m))) return;
    for (const alg of await readdir(join(this.dir, 'blobs')).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.dir, 'blobs', alg)).catch(() => [] as string[])) {
        if (name.includes('.tmp-')) continue; // another writer's file in flight
        if (!live.has(`${alg}:${name}`)) await rm(join(this.dir, 'blobs', alg, name), { force: true });
      }
    }
  }
}

/**
 * Reads a cache from an OCI layout directory: the manifest with `digest` when given, else the one
 * tagged `tag` (default `latest`), else the only cache manifest in the index.
 *
 * @example
 * ```ts
 * const r = new LocalCacheReader('/tmp/cache')
 * ```
 */
export class LocalCacheReader implements CacheReader {
  readonly name: string;
  constructor(
    readonly dir: string,
    readonly select: { tag?: string; digest?: string } = {},
  ) {
    this.name = dir;
  }

  async getManifest(_signal: AbortSignal): Promise<FoundManifest | undefined> {
    const index = await readIndex(this.dir);
    if (!index) return undefined;
    const { tag, digest } = this.select;
    let entry: Descriptor | undefined;
    if (digest) entry = index.manifests.find((m) => m.digest === digest);
    else {
      entry = index.manifests.find((m) => m.annotations?.[Annotation.RefName] === (tag ?? 'latest'));
      if (!entry && !tag) {
        const ours = index.manifests.filter((m) => (m as { artifactType?: string }).artifactType === CACHE_ARTIFACT_TYPE);
        if (ours.length === 1) entry = ours[0];
      }
    }
    if (!entry) return undefined;
    const bytes = await readFile(blobPath(this.dir, entry.digest)).catch((e: NodeJS.ErrnoException) => {
      throw new RemoteCacheError('E_CACHE_IMPORT', `${this.dir}: manifest ${entry.digest} named in index.json is missing (${e.code})`, { dir: this.dir });
    });
    if (sha256Digest(bytes) !== entry.digest) {
      throw new RemoteCacheError('E_CACHE_CORRUPT', `${this.dir}: manifest blob ${entry.digest} does not match its digest`, { dir: this.dir });
    }
    return { bytes };
  }

  async fetchBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<void> {
    if (await store.has(desc.digest)) return;
    const path = blobPath(this.dir, desc.digest);
    // The store hashes while writing and rejects a mismatch, so a damaged file is never stored.
    await store.put(createReadStream(path, { signal }), { expected: desc.digest, size: desc.size });
  }
}
