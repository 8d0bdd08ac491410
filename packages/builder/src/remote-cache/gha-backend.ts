/**
 * GitHub Actions cache backend. Every blob is its own cache entry keyed by its digest
 * (`build-image-blob-v1-<digest>`), so blobs are shared by every scope and never uploaded twice;
 * the manifest of a scope is an entry `build-image-manifest-v1-<scope>#<time>-<random>` and the
 * current one is the newest entry with the prefix `build-image-manifest-v1-<scope>#` (entries are
 * immutable, so each export writes a new key; GitHub evicts the old ones by age and size).
 */
import type { ContentStore, Descriptor, Digest } from '@build-image/cache';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobOutcome, CacheReader, CacheWriter, FoundManifest } from './backend.js';
import { RemoteCacheError } from './errors.js';
import { GhaCacheClient, type GhaClientOptions } from './gha.js';
import type { GhaEndpoint } from './spec.js';

const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * The cache key of a blob.
 *
 * @example
 * ghaBlobKey('sha256:ab…') // 'build-image-blob-v1-sha256:ab…'
 */
export function ghaBlobKey(digest: string): string {
  return `build-image-blob-v1-${digest}`;
}

/**
 * The key prefix of a scope's manifests (`#` cannot occur in a scope, so `main` never matches `main-x`).
 *
 * @example
 * ghaManifestPrefix('main') // 'build-image-manifest-v1-main#'
 */
export function ghaManifestPrefix(scope: string): string {
  return `build-image-manifest-v1-${scope}#`;
}

/**
 * Writes a cache into the GitHub Actions cache.
 *
 * @example
 * ```ts
 * const w = new GhaCacheWriter({ version: 2, url, token, scope: 'main' })
 * ```
 */
export class GhaCacheWriter implements CacheWriter {
  readonly name: string;
  private readonly client: GhaCacheClient;
  constructor(endpoint: GhaEndpoint, options: GhaClientOptions & { now?: () => number } = {}) {
    this.name = `gha scope ${endpoint.scope}`;
    this.client = new GhaCacheClient(endpoint, options);
    this.now = options.now ?? Date.now;
  }
  private readonly now: () => number;

  async putBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<BlobOutcome> {
    const key = ghaBlobKey(desc.digest);
    // Look first, as BuildKit does: an entry another branch wrote is readable here, and creating
    // it again in this branch's scope would upload the bytes twice into the 10 GB repository quota.
    if (await this.client.lookup(key, [], signal)) return 'exists';
    const path = store.pathOf(desc.digest);
    const open = (start: number, end: number): Readable =>
      // The whole blob is read through the store, which verifies it; ranges (large blobs) read the file.
      start === 0 && end === desc.size ? store.get(desc.digest as Digest) : createReadStream(path, { start, end: end - 1 });
    return this.client.save(key, { size: desc.size, open }, signal);
  }

  async putManifest(bytes: Buffer, _desc: Descriptor, signal: AbortSignal): Promise<void> {
    const key = `${ghaManifestPrefix(this.client.endpoint.scope)}${String(this.now()).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
    await this.client.save(key, { size: bytes.length, open: (s, e) => Readable.from([bytes.subarray(s, e)]) }, signal);
  }
}

/**
 * Reads a cache from the GitHub Actions cache.
 *
 * @example
 * ```ts
 * const r = new GhaCacheReader({ version: 2, url, token, scope: 'main' })
 * ```
 */
export class GhaCacheReader implements CacheReader {
  readonly name: string;
  private readonly client: GhaCacheClient;
  constructor(endpoint: GhaEndpoint, options: GhaClientOptions = {}) {
    this.name = `gha scope ${endpoint.scope}`;
    this.client = new GhaCacheClient(endpoint, options);
  }

  async getManifest(signal: AbortSignal): Promise<FoundManifest | undefined> {
    const prefix = ghaManifestPrefix(this.client.endpoint.scope);
    const entry = await this.client.lookup(prefix, [prefix], signal);
    if (!entry) return undefined;
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of await this.client.download(entry, signal)) {
      total += (c as Buffer).length;
      if (total > MAX_MANIFEST_BYTES) throw new RemoteCacheError('E_CACHE_IMPORT', `${this.name}: the cache manifest entry ${entry.key} is larger than ${MAX_MANIFEST_BYTES} bytes`, {});
      chunks.push(c as Buffer);
    }
    return { bytes: Buffer.concat(chunks) };
  }

  async fetchBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<void> {
    if (await store.has(desc.digest)) return;
    const entry = await this.client.lookup(ghaBlobKey(desc.digest), [], signal);
    if (!entry) throw new RemoteCacheError('E_CACHE_NOT_FOUND', `${this.name}: blob ${desc.digest} is not in the GitHub Actions cache (evicted?)`, { digest: desc.digest });
    await store.put(await this.client.download(entry, signal), { expected: desc.digest, size: desc.size });
  }
}
