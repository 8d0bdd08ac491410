/**
 * A client for OCI distribution registries: pull (manifest negotiation, platform selection,
 * verified blobs into a {@link BlobStore}) and push (existence checks, cross-repository mounts,
 * monolithic and chunked uploads streamed from the store, manifests and indexes by tag).
 */
import type { BlobStore, Descriptor, Digest } from '@build-image/cache';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import type { CredentialStore } from '../auth/credentials.js';
import { formatReference, parseReference, type ImageReference } from '../reference/parse.js';
import { digestLike, isSupportedDigest, sha256Digest, verifyingStream, type VerifyFailure } from './digest.js';
import { RegistryError, type RegistryErrorDetails, type RegistryErrorReason } from './errors.js';
import { isIndexMediaType, isManifestMediaType, MANIFEST_ACCEPT, MediaType } from './media-types.js';
import { formatPlatform, hostPlatform, parsePlatform, platformRank } from '../platform.js';
import { readRegistryErrors, RegistryTransport, type Endpoint } from './transport.js';
import type { ImageConfig, ImageIndex, ImageManifest, Platform } from './types.js';

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /**
   * Registries (host[:port]) reached over plain HTTP. Loopback hosts (localhost, 127.0.0.0/8,
   * [::1]) are always plain HTTP and need not be listed.
   */
  insecureRegistries?: string[];
  /**
   * Pull mirrors per registry, tried in order before the registry itself, e.g.
   * `{ 'docker.io': ['http://127.0.0.1:5001', 'mirror.gcr.io'] }`. Pushes never use mirrors.
   */
  mirrors?: Record<string, string[]>;
  /** Where credentials come from (e.g. `new DockerConfigCredentialStore()`); anonymous when absent. */
  auth?: CredentialStore;
  /** User-Agent header, default `build-image/0.1`. */
  userAgent?: string;
  /** Parallel layer downloads/uploads per image, default 3. */
  concurrency?: number;
  /** Retries on 408/429/5xx and connection resets, default 4 (so 5 attempts). */
  retries?: number;
  /** First backoff delay in ms, doubled per retry (default 250); Retry-After wins when sent. */
  retryBaseDelayMs?: number;
  /** Upper bound of one backoff delay in ms (default 30 000). */
  retryMaxDelayMs?: number;
  /** Blobs larger than this many bytes are uploaded in chunks (PATCH with Content-Range); default 64 MiB. */
  chunkedUploadThreshold?: number;
  /** Chunk size of chunked uploads, default 16 MiB. */
  chunkSize?: number;
  /** Aborts every request of this client. */
  signal?: AbortSignal;
}

/** What {@link RegistryClient.resolve} found. */
export interface ResolvedImage {
  /** The reference as parsed. */
  ref: ImageReference;
  /** Digest of the index (manifest list) when the reference named one. */
  indexDigest?: Digest;
  index?: ImageIndex;
  /** Exact bytes of the index, when there was one. */
  indexBytes?: Buffer;
  indexMediaType?: string;
  /** The selected image manifest. */
  manifestDigest: Digest;
  manifestDescriptor: Descriptor;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  configDescriptor: Descriptor;
  configBytes: Buffer;
  /** The parsed image config. */
  config: ImageConfig;
  layers: Descriptor[];
  /** The platform of the image (from the index entry, else from its config). */
  platform: Platform;
  /** Base URL the image came from (a mirror or the registry). */
  source: string;
}

/** What to push: a manifest, and the blobs it names (read from the store). */
export interface PushImageInput {
  /** Exact manifest bytes (pushed as they are) or an object (serialized with JSON.stringify). */
  manifest: Uint8Array | ImageManifest;
  /** Manifest media type; default the manifest's `mediaType` field, else OCI. */
  mediaType?: string;
  /** Config descriptor; default the manifest's. */
  config?: Descriptor;
  /** Layer descriptors; default the manifest's. */
  layers?: Descriptor[];
}

/** Options of a push. */
export interface PushOptions {
  /**
   * Hints for cross-repository mounts: blob digest → references (or `registry/repository` names)
   * known to hold it. A source on the target's registry is mounted instead of uploaded.
   */
  mountFrom?: Record<string, Array<string | ImageReference>>;
}

/** The result of pushing a manifest or index. */
export interface PushResult {
  digest: Digest;
  size: number;
  mediaType: string;
  /** Every reference written, fully qualified. */
  references: string[];
  /** How each blob got there. */
  blobs: Record<string, BlobPushOutcome>;
}

/** How a blob reached the registry. */
export type BlobPushOutcome = 'exists' | 'mounted' | 'uploaded' | 'uploaded-chunked';

type RefInput = string | ImageReference;

function toRef(r: RefInput): ImageReference {
  return typeof r === 'string' ? parseReference(r) : r;
}

function refText(ref: ImageReference): string {
  return formatReference(ref);
}

function repoPath(ref: ImageReference): string {
  return ref.repository.split('/').map(encodeURIComponent).join('/');
}

/**
 * Talks the OCI distribution API.
 *
 * @example
 * ```ts
 * const client = new RegistryClient({ auth: new DockerConfigCredentialStore() });
 * const img = await client.pullImage('127.0.0.1:5000/busybox', 'linux/amd64', store);
 * await client.pushImage(['127.0.0.1:5000/app:1', '127.0.0.1:5000/app:latest'], { manifest: img.manifestBytes }, store);
 * ```
 */
export class RegistryClient {
  private readonly transport: RegistryTransport;
  private readonly concurrency: number;
  private readonly threshold: number;
  private readonly chunkSize: number;
  /** Blobs seen per registry repository, so later pushes to a sibling repository can mount them. */
  private readonly knownBlobs = new Map<string, Set<string>>();

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.transport = new RegistryTransport(options);
    this.concurrency = Math.max(1, options.concurrency ?? 3);
    this.threshold = options.chunkedUploadThreshold ?? 64 * 1024 * 1024;
    this.chunkSize = Math.max(1, options.chunkSize ?? 16 * 1024 * 1024);
  }

  // ------------------------------------------------------------------------------------------
  // Pull

  /** Endpoints to pull from: mirrors first, then the registry itself. */
  private pullEndpoints(ref: ImageReference): Endpoint[] {
    const mirrors = this.options.mirrors?.[ref.registry] ?? [];
    return [...mirrors.map((m) => this.transport.mirrorEndpoint(ref.registry, m)), this.transport.endpointFor(ref.registry)];
  }

  private fail(ref: ImageReference, message: string, details: Partial<RegistryErrorDetails> & { reason: RegistryErrorReason }, cause?: unknown): RegistryError {
    return new RegistryError(message, { image: refText(ref), registry: ref.registry, ...details }, cause);
  }

  /** Turns a non-success answer into a RegistryError that names the image and registry. */
  private async httpError(ref: ImageReference, res: Response, what: string, ep: Endpoint): Promise<RegistryError> {
    const { codes, text } = await readRegistryErrors(res);
    const image = refText(ref);
    const where = ep.mirror ? `mirror ${ep.host} of ${ref.registry}` : ref.registry;
    const base = { status: res.status, registryCodes: codes, host: ep.host };
    if (res.status === 404) {
      return this.fail(ref, `image ${image} not found: ${where} has no ${what}${text ? ` (${text})` : ''}`, { ...base, reason: 'not-found' });
    }
    if (res.status === 403) {
      return this.fail(ref, `access to ${image} denied by ${where} while fetching ${what}${text ? ` (${text})` : ''}: check that your account may access this repository (docker login ${ref.registry})`, {
        ...base,
        reason: 'denied',
      });
    }
    return this.fail(ref, `${where} answered ${res.status} ${res.statusText} for ${what} of ${image}${text ? `: ${text}` : ''}`, { ...base, reason: 'http' });
  }

  private mismatch(ref: ImageReference, what: string, digest: string) {
    return (f: VerifyFailure) =>
      this.fail(
        ref,
        f.kind === 'digest'
          ? `digest mismatch for ${what} ${digest} of ${refText(ref)} from ${ref.registry}: got ${f.actual}; the registry or a proxy returned corrupt content`
          : `size mismatch for ${what} ${digest} of ${refText(ref)} from ${ref.registry}: expected ${f.expected} bytes, got ${f.actual}`,
        { reason: f.kind === 'digest' ? 'digest-mismatch' : 'size-mismatch', expected: f.expected, actual: f.actual, digest },
      );
  }

  /** GETs a manifest by tag or digest, verifying it against the digest when one is known. */
  private async fetchManifest(
    ep: Endpoint,
    ref: ImageReference,
    reference: string,
    expected?: Descriptor,
  ): Promise<{ bytes: Buffer; digest: Digest; mediaType: string }> {
    const res = await this.transport.request(ep, {
      method: 'GET',
      url: `/v2/${repoPath(ref)}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [`repository:${ref.repository}:pull`],
      image: refText(ref),
    });
    if (!res.ok) throw await this.httpError(ref, res, `manifest ${reference}`, ep);
    const bytes = Buffer.from(await res.arrayBuffer());
    const pinned = expected?.digest ?? (isSupportedDigest(reference) ? reference : undefined);
    const headerDigest = res.headers.get('docker-content-digest') ?? undefined;
    const check = pinned ?? (isSupportedDigest(headerDigest) ? headerDigest : undefined);
    const digest = check ? digestLike(check, bytes) : sha256Digest(bytes);
    if (check && digest !== check) {
      throw this.mismatch(ref, 'manifest', check)({ kind: 'digest', expected: check, actual: digest });
    }
    if (expected && expected.size !== bytes.length) {
      throw this.mismatch(ref, 'manifest', expected.digest)({ kind: 'size', expected: expected.size, actual: bytes.length });
    }
    let parsed: { mediaType?: string; schemaVersion?: number; manifests?: unknown; config?: unknown };
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
    } catch (e) {
      throw this.fail(ref, `manifest ${reference} of ${refText(ref)} is not valid JSON`, { reason: 'protocol' }, e);
    }
    const contentType = res.headers.get('content-type')?.split(';')[0]?.trim();
    let mediaType = parsed.mediaType ?? (contentType && contentType !== 'application/json' ? contentType : undefined) ?? expected?.mediaType;
    if (!mediaType) mediaType = Array.isArray(parsed.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
    if (mediaType === MediaType.DockerSchema1 || mediaType === MediaType.DockerSchema1Signed || parsed.schemaVersion === 1) {
      throw this.fail(ref, `${refText(ref)} uses the Docker image manifest schema 1, which is no longer supported: rebuild or re-push the image with a current tool`, { reason: 'unsupported' });
    }
    return { bytes, digest, mediaType };
  }

  /** GETs a small blob (config) and verifies it. */
  private async fetchSmallBlob(ep: Endpoint, ref: ImageReference, desc: Descriptor, what: string): Promise<Buffer> {
    const res = await this.transport.request(ep, {
      method: 'GET',
      url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
      scopes: [`repository:${ref.repository}:pull`],
      image: refText(ref),
    });
    if (!res.ok) throw await this.httpError(ref, res, `${what} ${desc.digest}`, ep);
    const bytes = Buffer.from(await res.arrayBuffer());
    const actual = digestLike(desc.digest, bytes);
    if (bytes.length !== desc.size) throw this.mismatch(ref, what, desc.digest)({ kind: 'size', expected: desc.size, actual: bytes.length });
    if (actual !== desc.digest) throw this.mismatch(ref, what, desc.digest)({ kind: 'digest', expected: desc.digest, actual });
    return bytes;
  }

  /**
   * Resolves a reference to one image manifest for `platform` (default: this host's), fetching and
   * verifying the index (if any), the manifest and the config.
   *
   * @throws RegistryError `not-found`, `unauthorized`, `denied`, `platform` (no index entry fits),
   *   `digest-mismatch`, `tls`, `network`.
   * @example `const img = await client.resolve('busybox:1.36', 'linux/arm64')`
   */
  async resolve(reference: RefInput, platform?: Platform | string): Promise<ResolvedImage> {
    const ref = toRef(reference);
    const want = platform === undefined ? hostPlatform() : typeof platform === 'string' ? parsePlatform(platform) : platform;
    const endpoints = this.pullEndpoints(ref);
    let lastError: unknown;
    for (const ep of endpoints) {
      try {
        return await this.resolveAt(ep, ref, want);
      } catch (e) {
        lastError = e;
        // A mirror that lacks the image or fails is skipped; errors about the image itself are final.
        const reason = (e as RegistryError).data?.reason;
        if (!ep.mirror || reason === 'platform' || reason === 'unsupported') throw e;
      }
    }
    throw lastError;
  }

  private async resolveAt(ep: Endpoint, ref: ImageReference, want: Platform): Promise<ResolvedImage> {
    const top = await this.fetchManifest(ep, ref, ref.digest ?? ref.tag ?? 'latest');
    let result: Partial<ResolvedImage> = { ref, source: ep.base };
    let manifest = top;
    let manifestDescriptor: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    let platformOfEntry: Platform | undefined;
    if (isIndexMediaType(top.mediaType)) {
      const index = JSON.parse(top.bytes.toString('utf8')) as ImageIndex;
      result = { ...result, index, indexDigest: top.digest, indexBytes: top.bytes, indexMediaType: top.mediaType };
      const chosen = selectPlatform(index, want) ?? (await this.selectByConfig(ep, ref, index, want));
      if (!chosen) {
        const available = [...new Set(index.manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform!)))];
        throw this.fail(ref, `no match for platform ${formatPlatform(want)} in ${refText(ref)} (available: ${available.join(', ') || 'none'})`, {
          reason: 'platform',
          platform: formatPlatform(want),
          available,
        });
      }
      platformOfEntry = chosen.platform;
      manifestDescriptor = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size };
      if (chosen.platform) manifestDescriptor.platform = chosen.platform;
      manifest = await this.fetchManifest(ep, ref, chosen.digest, chosen);
      if (isIndexMediaType(manifest.mediaType)) {
        throw this.fail(ref, `${refText(ref)}: nested image indexes are not supported`, { reason: 'unsupported' });
      }
    }
    if (!isManifestMediaType(manifest.mediaType)) {
      throw this.fail(ref, `${refText(ref)} is not a container image (manifest media type ${manifest.mediaType})`, { reason: 'unsupported' });
    }
    const parsed = JSON.parse(manifest.bytes.toString('utf8')) as ImageManifest;
    if (!parsed.config || !Array.isArray(parsed.layers)) {
      throw this.fail(ref, `manifest ${manifest.digest} of ${refText(ref)} has no config or layers`, { reason: 'protocol' });
    }
    const configBytes = await this.fetchSmallBlob(ep, ref, parsed.config, 'config');
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    const platform: Platform = platformOfEntry ?? {
      os: config.os ?? want.os,
      architecture: config.architecture ?? want.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    };
    return {
      ...result,
      manifestDigest: manifest.digest,
      manifestDescriptor,
      manifestBytes: manifest.bytes,
      manifest: parsed,
      configDescriptor: parsed.config,
      configBytes,
      config,
      layers: parsed.layers,
      platform,
    } as ResolvedImage;
  }

  /**
   * Index entries without a `platform` match by their config's os/architecture, as containerd
   * does; only consulted when no entry declares a fitting platform.
   */
  private async selectByConfig(ep: Endpoint, ref: ImageReference, index: ImageIndex, want: Platform): Promise<(Descriptor & { platform?: Platform }) | undefined> {
    let best: { rank: number; desc: Descriptor & { platform?: Platform } } | undefined;
    for (const m of index.manifests ?? []) {
      if (m.platform || !isManifestMediaType(m.mediaType)) continue;
      const child = await this.fetchManifest(ep, ref, m.digest, m);
      const parsed = JSON.parse(child.bytes.toString('utf8')) as ImageManifest;
      if (!parsed.config || parsed.config.mediaType === 'application/vnd.in-toto+json') continue;
      const config = JSON.parse((await this.fetchSmallBlob(ep, ref, parsed.config, 'config')).toString('utf8')) as ImageConfig;
      if (!config.os || !config.architecture) continue;
      const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
      const rank = platformRank(want, platform);
      if (rank !== undefined && (!best || rank < best.rank)) best = { rank, desc: { ...m, platform } };
    }
    return best?.desc;
  }

  /**
   * Streams one blob into `store`, verifying digest and size; does nothing when the store has it.
   * Retries the whole download on connection errors; tries mirrors first.
   */
  async pullBlob(reference: RefInput, descriptor: Descriptor, store: BlobStore, source?: string): Promise<void> {
    const ref = toRef(reference);
    if (await store.has(descriptor.digest)) return;
    const endpoints = this.pullEndpoints(ref);
    const ordered = source ? [...endpoints.filter((e) => e.base === source), ...endpoints.filter((e) => e.base !== source)] : endpoints;
    let lastError: unknown;
    for (const ep of ordered) {
      try {
        return await this.pullBlobAt(ep, ref, descriptor, store);
      } catch (e) {
        lastError = e;
        const reason = (e as RegistryError).data?.reason;
        if (!ep.mirror || reason === 'digest-mismatch' || reason === 'size-mismatch') throw e;
      }
    }
    throw lastError;
  }

  private async pullBlobAt(ep: Endpoint, ref: ImageReference, desc: Descriptor, store: BlobStore): Promise<void> {
    const retries = this.options.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      const res = await this.transport.request(ep, {
        method: 'GET',
        url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
        scopes: [`repository:${ref.repository}:pull`],
        image: refText(ref),
      });
      if (!res.ok || !res.body) throw await this.httpError(ref, res, `blob ${desc.digest}`, ep);
      const verify = verifyingStream(desc.digest, desc.size, this.mismatch(ref, 'blob', desc.digest));
      const body = Readable.fromWeb(res.body as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
      try {
        // pipeline wires errors both ways: a broken download destroys the store write and vice versa.
        const results = await Promise.allSettled([pipeline(body, verify), store.put(verify, { expected: desc.digest, size: desc.size })]);
        const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
        if (failures.length === 0) return;
        // Our own verification error names the image and registry; prefer it over the store's.
        throw failures.find((f) => RegistryError.is(f) && f.code === 'E_REGISTRY') ?? failures[0];
      } catch (e) {
        if (RegistryError.is(e) && e.code === 'E_REGISTRY') throw e;
        const text = String((e as Error)?.message ?? e);
        const transient = /terminated|ECONNRESET|other side closed|socket|aborted/i.test(text) && !this.options.signal?.aborted;
        if (transient && attempt < retries) continue;
        if (transient) {
          throw this.fail(ref, `download of blob ${desc.digest} of ${refText(ref)} from ${ep.host} kept failing: ${text}`, { reason: 'network' }, e);
        }
        throw e;
      }
    }
  }

  /**
   * Resolves the image and stores index (if any), manifest, config and layers in `store`, with at
   * most `concurrency` layer downloads at a time.
   * @example `await client.pullImage('busybox', 'linux/amd64', store)`
   */
  async pullImage(reference: RefInput, platform: Platform | string | undefined, store: BlobStore): Promise<ResolvedImage> {
    const resolved = await this.resolve(reference, platform);
    if (resolved.indexBytes) await store.putBytes(resolved.indexBytes, { expected: resolved.indexDigest! });
    await store.putBytes(resolved.manifestBytes, { expected: resolved.manifestDigest });
    await store.putBytes(resolved.configBytes, { expected: resolved.configDescriptor.digest });
    const limit = pLimit(this.concurrency);
    await Promise.all(resolved.layers.map((l) => limit(() => this.pullBlob(resolved.ref, l, store, resolved.source))));
    return resolved;
  }

  // ------------------------------------------------------------------------------------------
  // Push

  private pushScopes(ref: ImageReference, extra: string[] = []): string[] {
    return [`repository:${ref.repository}:pull,push`, ...extra];
  }

  private remember(ref: ImageReference, digest: string): void {
    const key = `${ref.registry}/${ref.repository}`;
    let set = this.knownBlobs.get(key);
    if (!set) this.knownBlobs.set(key, (set = new Set()));
    set.add(digest);
  }

  /** Repositories on `ref`'s registry known to hold `digest` (hints first, then what this client saw). */
  private mountSources(ref: ImageReference, digest: string, options: PushOptions): string[] {
    const out: string[] = [];
    for (const hint of options.mountFrom?.[digest] ?? []) {
      let r: ImageReference;
      if (typeof hint === 'string') {
        try {
          r = parseReference(hint);
        } catch {
          continue;
        }
      } else r = hint;
      if (r.registry === ref.registry && r.repository !== ref.repository) out.push(r.repository);
    }
    for (const [key, set] of this.knownBlobs) {
      const prefix = `${ref.registry}/`;
      if (key.startsWith(prefix) && set.has(digest)) {
        const repo = key.slice(prefix.length);
        if (repo !== ref.repository) out.push(repo);
      }
    }
    return [...new Set(out)];
  }

  /**
   * Makes one blob present in `ref`'s repository: skipped when the registry has it, mounted from a
   * sibling repository when possible, else uploaded from the store (chunked when large).
   */
  async pushBlob(reference: RefInput, desc: Descriptor, store: BlobStore, options: PushOptions = {}): Promise<BlobPushOutcome> {
    const ref = toRef(reference);
    const ep = this.transport.endpointFor(ref.registry);
    const head = await this.transport.request(ep, {
      method: 'HEAD',
      url: `/v2/${repoPath(ref)}/blobs/${desc.digest}`,
      scopes: this.pushScopes(ref),
      image: refText(ref),
    });
    await head.arrayBuffer().catch(() => undefined);
    if (head.ok) {
      this.remember(ref, desc.digest);
      return 'exists';
    }
    if (head.status !== 404) throw await this.httpError(ref, head, `blob ${desc.digest}`, ep);

    let location: string | undefined;
    for (const from of this.mountSources(ref, desc.digest, options)) {
      const res = await this.transport.request(ep, {
        method: 'POST',
        url: `/v2/${repoPath(ref)}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`,
        headers: { 'content-length': '0' },
        scopes: this.pushScopes(ref, [`repository:${from}:pull`]),
        image: refText(ref),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status === 201) {
        this.remember(ref, desc.digest);
        return 'mounted';
      }
      if (res.status === 202) {
        // The registry could not mount and opened an upload session instead: use it.
        location = res.headers.get('location') ?? undefined;
        break;
      }
    }
    const outcome = await this.uploadBlob(ep, ref, desc, store, location);
    this.remember(ref, desc.digest);
    return outcome;
  }

  private async startUpload(ep: Endpoint, ref: ImageReference): Promise<string> {
    const res = await this.transport.request(ep, {
      method: 'POST',
      url: `/v2/${repoPath(ref)}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      scopes: this.pushScopes(ref),
      image: refText(ref),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status !== 202) throw await this.httpError(ref, res, 'upload session', ep);
    return this.location(ep, ref, res);
  }

  private location(ep: Endpoint, ref: ImageReference, res: Response): string {
    const loc = res.headers.get('location');
    if (!loc) throw this.fail(ref, `${ref.registry} did not say where to upload (no Location header)`, { reason: 'protocol', status: res.status });
    return new URL(loc, `${ep.base}/`).toString();
  }

  private withDigest(location: string, digest: string): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  private async uploadBlob(ep: Endpoint, ref: ImageReference, desc: Descriptor, store: BlobStore, session?: string): Promise<BlobPushOutcome> {
    const retries = this.options.retries ?? 4;
    for (let attempt = 0; ; attempt++) {
      if (!(await store.has(desc.digest))) {
        throw this.fail(ref, `cannot push ${refText(ref)}: blob ${desc.digest} is not in the local content store (was it pulled or built here?)`, {
          reason: 'local-blob-missing',
          digest: desc.digest,
        });
      }
      try {
        const location = attempt === 0 && session ? new URL(session, `${ep.base}/`).toString() : await this.startUpload(ep, ref);
        if (desc.size > this.threshold) {
          await this.uploadChunked(ep, ref, desc, store, location);
          return 'uploaded-chunked';
        }
        const res = await this.transport.request(ep, {
          method: 'PUT',
          url: this.withDigest(location, desc.digest),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
          body: { kind: 'stream', open: () => store.get(desc.digest), replayable: false },
          scopes: this.pushScopes(ref),
          image: refText(ref),
        });
        await this.expectCreated(ep, ref, res, desc);
        return 'uploaded';
      } catch (e) {
        // A failed upload session cannot be resumed portably; start a new one.
        const reason = (e as RegistryError).data?.reason;
        const retryable = reason === 'network' || (reason === 'http' && ((e as RegistryError).status >= 500 || (e as RegistryError).status === 429));
        if (!retryable || attempt >= retries) throw e;
      }
    }
  }

  private async uploadChunked(ep: Endpoint, ref: ImageReference, desc: Descriptor, store: BlobStore, start: string): Promise<void> {
    const reader = new ChunkReader(store.get(desc.digest));
    let location = start;
    let offset = 0;
    try {
      while (offset < desc.size) {
        const length = Math.min(this.chunkSize, desc.size - offset);
        const res = await this.transport.request(ep, {
          method: 'PATCH',
          url: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(length),
            'content-range': `${offset}-${offset + length - 1}`,
          },
          body: { kind: 'stream', open: () => reader.take(length), replayable: false },
          scopes: this.pushScopes(ref),
          image: refText(ref),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status !== 202) throw await this.httpError(ref, res, `upload chunk at ${offset} of blob ${desc.digest}`, ep);
        location = this.location(ep, ref, res);
        offset += length;
      }
    } finally {
      reader.close();
    }
    const res = await this.transport.request(ep, {
      method: 'PUT',
      url: this.withDigest(location, desc.digest),
      headers: { 'content-length': '0' },
      scopes: this.pushScopes(ref),
      image: refText(ref),
    });
    await this.expectCreated(ep, ref, res, desc);
  }

  private async expectCreated(ep: Endpoint, ref: ImageReference, res: Response, desc: Descriptor): Promise<void> {
    if (res.status !== 201) {
      const err = await this.httpError(ref, res, `upload of blob ${desc.digest}`, ep);
      if (err.data.registryCodes?.includes('DIGEST_INVALID')) {
        throw this.fail(ref, `${ref.registry} rejected blob ${desc.digest} of ${refText(ref)}: the uploaded bytes do not match the digest (corrupt local store?)`, {
          reason: 'digest-mismatch',
          status: res.status,
          digest: desc.digest,
        });
      }
      throw err;
    }
    await res.arrayBuffer().catch(() => undefined);
    const got = res.headers.get('docker-content-digest');
    if (got && isSupportedDigest(got) && got !== desc.digest) {
      throw this.fail(ref, `${ref.registry} stored blob ${desc.digest} of ${refText(ref)} as ${got}`, { reason: 'digest-mismatch', digest: desc.digest, actual: got });
    }
  }

  /**
   * PUTs manifest (or index) bytes as `ref`'s tag, or by digest when `ref` has only a digest.
   * Returns the digest, verified against the registry's `Docker-Content-Digest` when sent.
   */
  async pushManifest(reference: RefInput, bytes: Uint8Array, mediaType: string): Promise<Digest> {
    const ref = toRef(reference);
    const ep = this.transport.endpointFor(ref.registry);
    const digest = sha256Digest(bytes);
    if (ref.digest && ref.digest !== digest) {
      throw this.fail(ref, `cannot push manifest ${digest} as ${refText(ref)}: the reference pins a different digest`, { reason: 'digest-mismatch', digest });
    }
    const target = ref.tag ?? digest;
    const res = await this.transport.request(ep, {
      method: 'PUT',
      url: `/v2/${repoPath(ref)}/manifests/${target}`,
      headers: { 'content-type': mediaType },
      body: { kind: 'bytes', data: bytes },
      scopes: this.pushScopes(ref),
      image: refText(ref),
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await this.httpError(ref, res, `manifest upload (${target})`, ep);
    await res.arrayBuffer().catch(() => undefined);
    const got = res.headers.get('docker-content-digest');
    if (got && isSupportedDigest(got) && got.startsWith('sha256:') && got !== digest) {
      throw this.fail(ref, `${ref.registry} stored the manifest of ${refText(ref)} as ${got}, expected ${digest}`, { reason: 'digest-mismatch', digest, actual: got });
    }
    return digest;
  }

  /**
   * Pushes an image: its blobs (config and layers, from `store`) to each target repository, then
   * the manifest by each reference's tag. References may span repositories and registries; blobs
   * pushed to one repository are mounted into its siblings on the same registry.
   *
   * @example
   * ```ts
   * const r = await client.pushImage(['127.0.0.1:5000/app:1', '127.0.0.1:5000/app:latest'], { manifest: bytes }, store);
   * r.digest // sha256:…
   * ```
   */
  async pushImage(references: RefInput | RefInput[], image: PushImageInput, store: BlobStore, options: PushOptions = {}): Promise<PushResult> {
    const refs = (Array.isArray(references) ? references : [references]).map(toRef);
    const bytes = image.manifest instanceof Uint8Array ? image.manifest : Buffer.from(JSON.stringify(image.manifest));
    const parsed = image.manifest instanceof Uint8Array ? (JSON.parse(Buffer.from(image.manifest).toString('utf8')) as ImageManifest) : image.manifest;
    const mediaType = image.mediaType ?? parsed.mediaType ?? MediaType.OciManifest;
    const blobs = [image.config ?? parsed.config, ...(image.layers ?? parsed.layers)];
    const outcomes: Record<string, BlobPushOutcome> = {};
    const written: string[] = [];
    let digest: Digest | undefined;
    const done = new Set<string>();
    for (const ref of refs) {
      const repoKey = `${ref.registry}/${ref.repository}`;
      if (!done.has(repoKey)) {
        done.add(repoKey);
        await this.pushBlobs(ref, blobs, store, options, outcomes);
      }
      digest = await this.pushManifest(ref, bytes, mediaType);
      written.push(refText(ref));
    }
    return { digest: digest ?? sha256Digest(bytes), size: bytes.length, mediaType, references: written, blobs: outcomes };
  }

  private async pushBlobs(ref: ImageReference, blobs: Descriptor[], store: BlobStore, options: PushOptions, outcomes: Record<string, BlobPushOutcome>): Promise<void> {
    const limit = pLimit(this.concurrency);
    const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
    await Promise.all(
      unique.map((b) =>
        limit(async () => {
          const outcome = await this.pushBlob(ref, b, store, options);
          // Report the first repository's outcome (later repositories mostly mount).
          outcomes[b.digest] ??= outcome;
        }),
      ),
    );
  }

  /**
   * Pushes an image index: every child manifest (read from `store`) the registry lacks is pushed
   * by digest with its blobs, then the index by each reference's tag.
   */
  async pushIndex(references: RefInput | RefInput[], index: Uint8Array | ImageIndex, store: BlobStore, options: PushOptions & { mediaType?: string } = {}): Promise<PushResult> {
    const refs = (Array.isArray(references) ? references : [references]).map(toRef);
    const bytes = index instanceof Uint8Array ? index : Buffer.from(JSON.stringify(index));
    const parsed = index instanceof Uint8Array ? (JSON.parse(Buffer.from(index).toString('utf8')) as ImageIndex) : index;
    const mediaType = options.mediaType ?? parsed.mediaType ?? MediaType.OciIndex;
    const outcomes: Record<string, BlobPushOutcome> = {};
    const written: string[] = [];
    let digest: Digest | undefined;
    const done = new Set<string>();
    for (const ref of refs) {
      const repoKey = `${ref.registry}/${ref.repository}`;
      if (!done.has(repoKey)) {
        done.add(repoKey);
        for (const child of parsed.manifests) await this.pushChild(ref, child, store, options, outcomes);
      }
      digest = await this.pushManifest(ref, bytes, mediaType);
      written.push(refText(ref));
    }
    return { digest: digest ?? sha256Digest(bytes), size: bytes.length, mediaType, references: written, blobs: outcomes };
  }

  private async pushChild(ref: ImageReference, child: Descriptor, store: BlobStore, options: PushOptions, outcomes: Record<string, BlobPushOutcome>): Promise<void> {
    const ep = this.transport.endpointFor(ref.registry);
    const head = await this.transport.request(ep, {
      method: 'HEAD',
      url: `/v2/${repoPath(ref)}/manifests/${child.digest}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: this.pushScopes(ref),
      image: refText(ref),
    });
    await head.arrayBuffer().catch(() => undefined);
    if (head.ok) return;
    const bytes = await store.getBytes(child.digest);
    const childRef: ImageReference = { registry: ref.registry, repository: ref.repository, digest: child.digest, familiar: '' };
    if (isIndexMediaType(child.mediaType)) {
      const nested = JSON.parse(bytes.toString('utf8')) as ImageIndex;
      for (const m of nested.manifests) await this.pushChild(ref, m, store, options, outcomes);
    } else {
      const m = JSON.parse(bytes.toString('utf8')) as ImageManifest;
      await this.pushBlobs(ref, [m.config, ...m.layers], store, options, outcomes);
    }
    await this.pushManifest(childRef, bytes, child.mediaType);
  }
}

/** Picks the best index entry for `want` (exact variant first, then compatible older ones; first wins ties). */
export function selectPlatform(index: ImageIndex, want: Platform): (Descriptor & { platform?: Platform }) | undefined {
  let best: { rank: number; desc: Descriptor & { platform?: Platform } } | undefined;
  for (const m of index.manifests ?? []) {
    if (!isManifestMediaType(m.mediaType) && !isIndexMediaType(m.mediaType) && m.mediaType !== undefined) continue;
    const rank = platformRank(want, m.platform);
    if (rank === undefined) continue;
    if (!best || rank < best.rank) best = { rank, desc: m };
  }
  return best?.desc;
}

/** Splits one source stream into consecutive byte ranges, each consumed as its own iterable. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;

  constructor(private readonly source: Readable) {
    this.iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Yields exactly `n` bytes (fewer only if the source ends early). */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      let buf = this.pending;
      this.pending = undefined;
      if (!buf) {
        const next = await this.iterator.next();
        if (next.done) return;
        buf = next.value;
      }
      if (buf.length > left) {
        this.pending = buf.subarray(left);
        buf = buf.subarray(0, left);
      }
      left -= buf.length;
      yield buf;
    }
  }

  close(): void {
    this.source.destroy();
  }
}

