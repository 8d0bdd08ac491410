/**
 * A client of the GitHub Actions cache service, both protocols:
 *
 * - **v2** (current runners, `ACTIONS_RESULTS_URL`): twirp JSON calls to
 *   `/twirp/github.actions.results.api.v1.CacheService/{CreateCacheEntry, FinalizeCacheEntryUpload,
 *   GetCacheEntryDownloadURL}`; bytes go to and come from the signed (Azure Blob SAS) URLs those
 *   return: one `Put Blob`, or `Put Block` × n + `Put Block List` for large blobs.
 * - **v1** (legacy, `ACTIONS_CACHE_URL`, still on GHES): `GET _apis/artifactcache/cache?keys=&version=`,
 *   `POST caches` (reserve), `PATCH caches/{id}` with `Content-Range`, `POST caches/{id}` (commit).
 *
 * Cache entries are immutable: creating an existing key fails, which we read as "already there".
 * A lookup with restore keys returns the newest entry whose key starts with one of them, which is
 * how a scope's manifest is made to look mutable (a fresh key per export, looked up by prefix).
 * Requests answered 429 or 5xx are retried with exponential backoff, honouring `Retry-After`.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { GhaEndpoint } from './spec.js';
import { errorMessage, RemoteCacheError } from './errors.js';

/** The `version` every entry of ours is stored under: entries of other tools never match. */
export const GHA_CACHE_VERSION = createHash('sha256').update('build-image.remote-cache.v1').digest('hex');
const TWIRP_SERVICE = 'github.actions.results.api.v1.CacheService';
const V1_ACCEPT = 'application/json;api-version=6.0-preview.1';
const AZURE_VERSION = '2023-11-03';

/** Options of {@link GhaCacheClient}. */
export interface GhaClientOptions {
  /** Retries of a throttled (429) or failed (5xx, connection) request. Default 4. */
  retries?: number;
  /** First backoff delay in ms, doubled per retry. Default 1000. */
  retryBaseDelayMs?: number;
  /** Uploads larger than this go in blocks (v2) or chunks (v1) of this size. Default 32 MiB. */
  chunkSize?: number;
  /** Called when the service throttles us, so the caller can say so in the log. */
  onThrottle?: (info: { url: string; delayMs: number; attempt: number }) => void;
}

/** A found entry: its key and where to download it. */
export interface GhaEntry {
  key: string;
  url: string;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** Opens bytes [start, end) of the blob being uploaded. */
export type OpenRange = (start: number, end: number) => Readable;

/**
 * Talks to the cache service of one runner.
 *
 * @example
 * ```ts
 * const gha = new GhaCacheClient({ version: 2, url: process.env.ACTIONS_RESULTS_URL!, token, scope: 'main' })
 * const hit = await gha.lookup('build-image-manifest-v1-main-', ['build-image-manifest-v1-main-'], signal)
 * ```
 */
export class GhaCacheClient {
  private readonly retries: number;
  private readonly baseDelay: number;
  readonly chunkSize: number;

  constructor(
    readonly endpoint: GhaEndpoint,
    private readonly options: GhaClientOptions = {},
  ) {
    this.retries = options.retries ?? 4;
    this.baseDelay = options.retryBaseDelayMs ?? 1000;
    this.chunkSize = Math.max(1, options.chunkSize ?? 32 * 1024 * 1024);
  }

  /** fetch with backoff on 429/5xx/connection errors. `init` is a function so bodies can be reopened. */
  private async request(url: string, init: () => RequestInit, signal: AbortSignal, what: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await fetch(url, { ...init(), signal });
      } catch (e) {
        if (signal.aborted) throw e;
        failure = e;
      }
      const retryable = !res || res.status === 429 || res.status >= 500;
      if (res && !retryable) return res;
      if (attempt >= this.retries) {
        if (res) return res;
        const origin = new URL(url).origin;
        throw new RemoteCacheError('E_CACHE_EXPORT', `GitHub Actions cache: ${what} failed: cannot reach ${origin}: ${errorMessage(failure)}`, { url: origin }, failure);
      }
      // Retry-After is a lower bound; `Retry-After: 0` from a throttling service must not become a busy loop.
      const delay = Math.min(60_000, Math.max((res && retryAfterMs(res.headers.get('retry-after'))) ?? 0, this.baseDelay * 2 ** attempt));
      if (res) {
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 429) this.options.onThrottle?.({ url: new URL(url).origin + new URL(url).pathname, delayMs: delay, attempt });
      }
      await sleep(delay, signal);
    }
  }

  private authHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.endpoint.token}` };
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    let msg = text;
    try {
      const j = JSON.parse(text) as { msg?: string; message?: string };
      msg = j.msg ?? j.message ?? text;
    } catch {
      /* not JSON */
    }
    const hint = res.status === 401 || res.status === 403 ? ' (is ACTIONS_RUNTIME_TOKEN current? it is valid only inside the job that received it)' : '';
    throw new RemoteCacheError('E_CACHE_EXPORT', `GitHub Actions cache: ${what} answered ${res.status}${msg ? `: ${msg}` : ''}${hint}`, { status: res.status });
  }

  private async twirp<T>(method: string, body: Record<string, unknown>, signal: AbortSignal): Promise<{ status: number; json: T | undefined; res: Response }> {
    const url = new URL(`/twirp/${TWIRP_SERVICE}/${method}`, this.endpoint.url).toString();
    const res = await this.request(
      url,
      () => ({ method: 'POST', headers: { ...this.authHeaders(), 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) }),
      signal,
      method,
    );
    if (!res.ok) return { status: res.status, json: undefined, res };
    return { status: res.status, json: (await res.json()) as T, res };
  }

  private v1url(resource: string): string {
    const base = this.endpoint.url.endsWith('/') ? this.endpoint.url : `${this.endpoint.url}/`;
    return new URL(`_apis/artifactcache/${resource}`, base).toString();
  }

  /**
   * The entry stored under `key`, else the newest whose key starts with one of `restoreKeys`.
   * Undefined when none exists.
   *
   * @example
   * ```ts
   * const entry = await gha.lookup(prefix, [prefix], signal) // newest manifest of a scope
   * ```
   */
  async lookup(key: string, restoreKeys: string[], signal: AbortSignal): Promise<GhaEntry | undefined> {
    if (this.endpoint.version === 2) {
      const { json, res, status } = await this.twirp<{ ok?: boolean; signed_download_url?: string; signedDownloadUrl?: string; matched_key?: string; matchedKey?: string }>(
        'GetCacheEntryDownloadURL',
        { key, restore_keys: restoreKeys, version: GHA_CACHE_VERSION },
        signal,
      );
      if (status === 404) return undefined;
      if (!json) return this.fail(res, 'GetCacheEntryDownloadURL');
      const url = json.signed_download_url ?? json.signedDownloadUrl;
      if (!json.ok || !url) return undefined;
      return { key: json.matched_key ?? json.matchedKey ?? key, url };
    }
    // The primary key is matched exactly, the rest as prefixes; a key may be both.
    const keys = [key, ...restoreKeys].join(',');
    const url = `${this.v1url('cache')}?keys=${encodeURIComponent(keys)}&version=${GHA_CACHE_VERSION}`;
    const res = await this.request(url, () => ({ method: 'GET', headers: { ...this.authHeaders(), accept: V1_ACCEPT } }), signal, 'cache lookup');
    if (res.status === 204 || res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      return undefined;
    }
    if (!res.ok) return this.fail(res, 'cache lookup');
    const j = (await res.json()) as { archiveLocation?: string; cacheKey?: string };
    if (!j.archiveLocation) return undefined;
    return { key: j.cacheKey ?? key, url: j.archiveLocation };
  }

  /**
   * Downloads an entry found by {@link lookup}; the caller consumes (and verifies) the body.
   *
   * @example
   * ```ts
   * await store.put(await gha.download(entry, signal), { expected: digest, size })
   * ```
   */
  async download(entry: GhaEntry, signal: AbortSignal): Promise<Readable> {
    const res = await this.request(entry.url, () => ({ method: 'GET' }), signal, `download of ${entry.key}`);
    if (!res.ok || !res.body) return this.fail(res, `download of ${entry.key}`);
    return Readable.fromWeb(res.body as unknown as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  /**
   * Stores `body.size` bytes under `key`, reading them with `body.open(start, end)` (called again
   * for a retry or per block). Resolves `'exists'` when the key is already taken (entries are
   * immutable, and ours are content-addressed or unique), `'uploaded'` otherwise.
   *
   * @example
   * ```ts
   * await gha.save('build-image-blob-v1-sha256:…', { size, open: (s, e) => createReadStream(path, { start: s, end: e - 1 }) }, signal)
   * ```
   */
  async save(key: string, body: { size: number; open: OpenRange }, signal: AbortSignal): Promise<'exists' | 'uploaded'> {
    return this.endpoint.version === 2 ? this.saveV2(key, body.size, body.open, signal) : this.saveV1(key, body.size, body.open, signal);
  }

  private async saveV2(key: string, size: number, open: OpenRange, signal: AbortSignal): Promise<'exists' | 'uploaded'> {
    const created = await this.twirp<{ ok?: boolean; signed_upload_url?: string; signedUploadUrl?: string }>(
      'CreateCacheEntry',
      { key, version: GHA_CACHE_VERSION },
      signal,
    );
    if (created.status === 409) {
      await created.res.arrayBuffer().catch(() => undefined);
      return 'exists';
    }
    if (!created.json) return this.fail(created.res, `CreateCacheEntry ${key}`);
    const uploadUrl = created.json.signed_upload_url ?? created.json.signedUploadUrl;
    // ok=false: another job holds (or finished) this key. Either way the bytes are, or will be, there.
    if (!created.json.ok || !uploadUrl) return 'exists';
    await this.uploadAzure(uploadUrl, size, open, signal, key);
    const fin = await this.twirp<{ ok?: boolean }>('FinalizeCacheEntryUpload', { key, version: GHA_CACHE_VERSION, size_bytes: String(size) }, signal);
    if (!fin.json) return this.fail(fin.res, `FinalizeCacheEntryUpload ${key}`);
    if (!fin.json.ok) throw new RemoteCacheError('E_CACHE_EXPORT', `GitHub Actions cache: FinalizeCacheEntryUpload ${key} was refused (ok=false)`, { key });
    return 'uploaded';
  }

  private async uploadAzure(url: string, size: number, open: OpenRange, signal: AbortSignal, key: string): Promise<void> {
    const put = async (target: string, headers: Record<string, string>, body: () => RequestInit['body'], what: string) => {
      const res = await this.request(target, () => ({ method: 'PUT', headers: { 'x-ms-version': AZURE_VERSION, ...headers }, body: body(), duplex: 'half' }) as RequestInit, signal, what);
      if (res.status !== 201 && res.status !== 200) return this.fail(res, what);
      await res.arrayBuffer().catch(() => undefined);
    };
    const stream = (start: number, end: number) => () => Readable.toWeb(open(start, end)) as unknown as ReadableStream<Uint8Array>;
    if (size <= this.chunkSize) {
      await put(url, { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'application/octet-stream', 'content-length': String(size) }, stream(0, size), `upload of ${key}`);
      return;
    }
    const ids: string[] = [];
    for (let start = 0, n = 0; start < size; start += this.chunkSize, n++) {
      const end = Math.min(size, start + this.chunkSize);
      // Block ids must all have the same length within a blob.
      const id = Buffer.from(`block-${String(n).padStart(8, '0')}`).toString('base64');
      ids.push(id);
      const u = new URL(url);
      u.searchParams.set('comp', 'block');
      u.searchParams.set('blockid', id);
      await put(u.toString(), { 'content-length': String(end - start) }, stream(start, end), `upload of block ${n} of ${key}`);
    }
    const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
    const u = new URL(url);
    u.searchParams.set('comp', 'blocklist');
    await put(u.toString(), { 'content-type': 'application/xml' }, () => list, `commit of ${key}`);
  }

  private async saveV1(key: string, size: number, open: OpenRange, signal: AbortSignal): Promise<'exists' | 'uploaded'> {
    const headers = { ...this.authHeaders(), accept: V1_ACCEPT };
    const reserve = await this.request(
      this.v1url('caches'),
      () => ({ method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ key, version: GHA_CACHE_VERSION, cacheSize: size }) }),
      signal,
      `reserve ${key}`,
    );
    if (reserve.status === 409) {
      await reserve.arrayBuffer().catch(() => undefined);
      return 'exists';
    }
    if (!reserve.ok) return this.fail(reserve, `reserve ${key}`);
    const { cacheId } = (await reserve.json()) as { cacheId?: number };
    if (cacheId === undefined) throw new RemoteCacheError('E_CACHE_EXPORT', `GitHub Actions cache: reserve ${key} returned no cacheId`, { key });
    for (let start = 0; start < size; start += this.chunkSize) {
      const end = Math.min(size, start + this.chunkSize);
      const res = await this.request(
        this.v1url(`caches/${cacheId}`),
        () =>
          ({
            method: 'PATCH',
            headers: { ...headers, 'content-type': 'application/octet-stream', 'content-range': `bytes ${start}-${end - 1}/*`, 'content-length': String(end - start) },
            body: Readable.toWeb(open(start, end)) as unknown as ReadableStream<Uint8Array>,
            duplex: 'half',
          }) as RequestInit,
        signal,
        `upload of ${key}`,
      );
      if (!res.ok) return this.fail(res, `upload of ${key}`);
      await res.arrayBuffer().catch(() => undefined);
    }
    const commit = await this.request(
      this.v1url(`caches/${cacheId}`),
      () => ({ method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ size }) }),
      signal,
      `commit of ${key}`,
    );
    if (!commit.ok) return this.fail(commit, `commit of ${key}`);
    await commit.arrayBuffer().catch(() => undefined);
    return 'uploaded';
  }
}
