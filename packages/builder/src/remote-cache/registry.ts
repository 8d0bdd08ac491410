/**
 * Registry backend: the cache manifest is pushed under the given reference (a tag), its config
 * and layer blobs into the same repository. Reads go through {@link RegistryClient.resolve}, which
 * fetches and verifies the manifest and the config.
 */
import type { ContentStore, Descriptor } from '@build-image/cache';
import { MediaType } from '../image/mediaTypes.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import type { BlobOutcome, CacheReader, CacheWriter, FoundManifest } from './backend.js';
import { RemoteCacheError } from './errors.js';

/** Clients per abort signal: the client takes its signal at construction. */
class ClientPool {
  private readonly clients = new WeakMap<AbortSignal, RegistryClient>();
  constructor(private readonly options: RegistryClientOptions) {}
  get(signal: AbortSignal): RegistryClient {
    let c = this.clients.get(signal);
    if (!c) {
      const s = this.options.signal ? AbortSignal.any([this.options.signal, signal]) : signal;
      // A cache is optional: fewer retries than an image push, so a dead registry costs seconds, not minutes.
      c = new RegistryClient({ retries: 2, ...this.options, signal: s });
      this.clients.set(signal, c);
    }
    return c;
  }
}

/**
 * Writes a cache to `ref` (e.g. `ghcr.io/org/app:buildcache`).
 *
 * @example
 * ```ts
 * const w = new RegistryCacheWriter('127.0.0.1:5000/app:cache', { auth: new DockerConfigCredentialStore() })
 * ```
 */
export class RegistryCacheWriter implements CacheWriter {
  private readonly pool: ClientPool;
  constructor(readonly name: string, options: RegistryClientOptions = {}) {
    this.pool = new ClientPool(options);
  }

  async putBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<BlobOutcome> {
    const outcome = await this.pool.get(signal).pushBlob(this.name, desc, store);
    return outcome === 'exists' || outcome === 'mounted' ? 'exists' : 'uploaded';
  }

  async putManifest(bytes: Buffer, _desc: Descriptor, signal: AbortSignal): Promise<void> {
    await this.pool.get(signal).pushManifest(this.name, bytes, MediaType.OciManifest);
  }
}

/**
 * Reads a cache from `ref`.
 *
 * @example
 * ```ts
 * const r = new RegistryCacheReader('127.0.0.1:5000/app:cache')
 * ```
 */
export class RegistryCacheReader implements CacheReader {
  private readonly pool: ClientPool;
  constructor(readonly name: string, options: RegistryClientOptions = {}) {
    this.pool = new ClientPool(options);
  }

  async getManifest(signal: AbortSignal): Promise<FoundManifest | undefined> {
    try {
      const resolved = await this.pool.get(signal).resolve(this.name);
      return { bytes: resolved.manifestBytes, config: resolved.configBytes };
    } catch (e) {
      // Distribution answers 404 MANIFEST_UNKNOWN for a missing tag and NAME_UNKNOWN for a missing repository.
      if (RegistryError.is(e) && (e as RegistryError).data?.reason === 'not-found') return undefined;
      if (RegistryError.is(e) && (e as RegistryError).data?.reason === 'platform') {
        // resolve() looked for a platform image in an index: BuildKit's own cache format is such an index.
        throw new RemoteCacheError('E_CACHE_IMPORT', `${this.name} is an image index, not a build-image cache (a cache written by BuildKit?)`, { ref: this.name }, e);
      }
      throw e;
    }
  }

  async fetchBlob(desc: Descriptor, store: ContentStore, signal: AbortSignal): Promise<void> {
    await this.pool.get(signal).pullBlob(this.name, desc, store);
  }
}
