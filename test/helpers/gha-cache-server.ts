/**
 * A local stand-in for the GitHub Actions cache service, on 127.0.0.1, for tests. It speaks:
 *
 * - v2 (twirp JSON, what current runners use via `ACTIONS_RESULTS_URL`):
 *   `POST /twirp/github.actions.results.api.v1.CacheService/{CreateCacheEntry,FinalizeCacheEntryUpload,GetCacheEntryDownloadURL}`,
 *   with signed URLs under `/blob/<id>?sig=…` that accept Azure Blob `Put Blob`
 *   (`x-ms-blob-type: BlockBlob`), `Put Block` (`comp=block&blockid=`) and `Put Block List`
 *   (`comp=blocklist`), and serve `GET`.
 * - v1 (legacy `ACTIONS_CACHE_URL`, base `<url>/v1/`): `GET _apis/artifactcache/cache?keys=&version=`,
 *   `POST _apis/artifactcache/caches`, `PATCH …/caches/<id>` (Content-Range), `POST …/caches/<id>`.
 *
 * Semantics kept from the real service: entries are immutable (a second create of a key+version
 * is refused: twirp `already_exists` 409 / v1 409), a lookup matches the key exactly first and
 * then each restore key as a prefix, newest entry first; every API call needs the bearer token.
 *
 * @example
 * ```ts
 * const gha = await startGhaCacheServer();
 * // ACTIONS_RESULTS_URL = gha.url + '/', ACTIONS_CACHE_URL = gha.v1Url, ACTIONS_RUNTIME_TOKEN = gha.token
 * await gha.stop();
 * ```
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';

/** One stored (or reserved) entry. */
export interface GhaServerEntry {
  id: number;
  key: string;
  version: string;
  /** Committed bytes; undefined while the upload is in progress. */
  data?: Buffer;
  /** Order of creation (lookups prefer the newest). */
  seq: number;
  /** Staged Azure blocks or v1 chunks, before commit. */
  parts: Map<string, Buffer>;
  uploaded?: Buffer;
}

/** One request the server saw. */
export interface GhaServerRequest {
  method: string;
  path: string;
  status: number;
}

/** Options of {@link startGhaCacheServer}. */
export interface GhaCacheServerOptions {
  /** Bearer token the API requires (default random). */
  token?: string;
  /** Answer this many API calls (not blob transfers) with 429 + `Retry-After: 0` first. */
  throttle?: number;
}

/** A running server. */
export interface GhaCacheServer {
  /** `http://127.0.0.1:PORT`: the v2 base (ACTIONS_RESULTS_URL). */
  url: string;
  /** `http://127.0.0.1:PORT/v1/`: the legacy base (ACTIONS_CACHE_URL). */
  v1Url: string;
  token: string;
  entries: Map<number, GhaServerEntry>;
  requests: GhaServerRequest[];
  /** Calls still to be throttled; tests may set it. */
  throttle: number;
  /** Committed entries whose key starts with `prefix`. */
  keys(prefix?: string): string[];
  stop(): Promise<void>;
}

const TWIRP = '/twirp/github.actions.results.api.v1.CacheService/';

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts the server on a free loopback port. */
export async function startGhaCacheServer(options: GhaCacheServerOptions = {}): Promise<GhaCacheServer> {
  const token = options.token ?? randomBytes(12).toString('hex');
  const sig = randomBytes(8).toString('hex');
  const entries = new Map<number, GhaServerEntry>();
  const requests: GhaServerRequest[] = [];
  let nextId = 1;
  let seq = 0;
  let base = '';
  const state = { throttle: options.throttle ?? 0 };

  const find = (key: string, version: string) => [...entries.values()].find((e) => e.key === key && e.version === version);
  const lookup = (key: string, restoreKeys: string[], version: string): GhaServerEntry | undefined => {
    const committed = [...entries.values()].filter((e) => e.data && e.version === version).sort((a, b) => b.seq - a.seq);
    const exact = committed.find((e) => e.key === key);
    if (exact) return exact;
    for (const prefix of restoreKeys) {
      const hit = committed.find((e) => e.key.startsWith(prefix));
      if (hit) return hit;
    }
    return undefined;
  };
  const blobUrl = (e: GhaServerEntry) => `${base}/blob/${e.id}?sv=2023-11-03&sig=${sig}`;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = await readBody(req);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      return status;
    };
    const empty = (status: number) => {
      res.writeHead(status).end();
      return status;
    };

    // Signed blob URLs: authorised by the signature, not the token.
    const blob = /^\/blob\/(\d+)$/.exec(url.pathname);
    if (blob) {
      if (url.searchParams.get('sig') !== sig) return empty(403);
      const e = entries.get(Number(blob[1]));
      if (!e) return empty(404);
      if (req.method === 'GET') {
        if (!e.data) return empty(404);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(e.data.length) }).end(e.data);
        return 200;
      }
      if (req.method !== 'PUT' || e.data) return empty(409);
      const comp = url.searchParams.get('comp');
      if (comp === 'block') {
        const id = url.searchParams.get('blockid');
        if (!id) return empty(400);
        e.parts.set(id, body);
        return empty(201);
      }
      if (comp === 'blocklist') {
        const ids = [...body.toString('utf8').matchAll(/<Latest>([^<]*)<\/Latest>/g)].map((m) => m[1]!);
        if (ids.some((id) => !e.parts.has(id))) return empty(400);
        e.uploaded = Buffer.concat(ids.map((id) => e.parts.get(id)!));
        return empty(201);
      }
      if (req.headers['x-ms-blob-type'] !== 'BlockBlob') return empty(400);
      e.uploaded = body;
      return empty(201);
    }

    if (req.headers.authorization !== `Bearer ${token}`) return json(401, { code: 'unauthenticated', msg: 'bad token' });
    if (state.throttle > 0) {
      state.throttle--;
      res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' }).end(JSON.stringify({ code: 'resource_exhausted', msg: 'Request was blocked due to exceeding usage of resource' }));
      return 429;
    }

    if (url.pathname.startsWith(TWIRP) && req.method === 'POST') {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(400, { code: 'malformed', msg: 'body is not JSON' });
      }
      const key = String(r.key ?? '');
      const version = String(r.version ?? '');
      if (!key || !version) return json(400, { code: 'invalid_argument', msg: 'key and version are required' });
      switch (url.pathname.slice(TWIRP.length)) {
        case 'CreateCacheEntry': {
          if (find(key, version)) return json(409, { code: 'already_exists', msg: 'cache entry with the same key, version, and scope already exists' });
          const e: GhaServerEntry = { id: nextId++, key, version, seq: ++seq, parts: new Map() };
          entries.set(e.id, e);
          return json(200, { ok: true, signed_upload_url: blobUrl(e) });
        }
        case 'FinalizeCacheEntryUpload': {
          const e = find(key, version);
          if (!e || e.data || !e.uploaded) return json(200, { ok: false, entry_id: '0' });
          if (String(e.uploaded.length) !== String(r.size_bytes)) return json(400, { code: 'invalid_argument', msg: `size ${String(r.size_bytes)} does not match the uploaded ${e.uploaded.length} bytes` });
          e.data = e.uploaded;
          e.seq = ++seq;
          return json(200, { ok: true, entry_id: String(e.id) });
        }
        case 'GetCacheEntryDownloadURL': {
          const restore = Array.isArray(r.restore_keys) ? (r.restore_keys as unknown[]).map(String) : [];
          const e = lookup(key, restore, version);
          return e ? json(200, { ok: true, signed_download_url: blobUrl(e), matched_key: e.key }) : json(200, { ok: false, signed_download_url: '', matched_key: '' });
        }
        default:
          return json(404, { code: 'bad_route', msg: `no handler for ${url.pathname}` });
      }
    }

    if (url.pathname.startsWith('/v1/_apis/artifactcache/')) {
      if (!String(req.headers.accept ?? '').includes('api-version=6.0-preview.1')) return json(400, { message: 'api-version missing' });
      const rest = url.pathname.slice('/v1/_apis/artifactcache/'.length);
      if (rest === 'cache' && req.method === 'GET') {
        const keys = (url.searchParams.get('keys') ?? '').split(',').filter(Boolean);
        const e = lookup(keys[0] ?? '', keys.slice(1), url.searchParams.get('version') ?? '');
        if (!e) return empty(204);
        return json(200, { cacheKey: e.key, scope: 'refs/heads/main', archiveLocation: blobUrl(e) });
      }
      if (rest === 'caches' && req.method === 'POST') {
        const r = JSON.parse(body.toString('utf8')) as { key: string; version: string; cacheSize?: number };
        if (find(r.key, r.version)) return json(409, { message: `Cache already exists. Scope: refs/heads/main, Key: ${r.key}` });
        const e: GhaServerEntry = { id: nextId++, key: r.key, version: r.version, seq: ++seq, parts: new Map() };
        entries.set(e.id, e);
        return json(201, { cacheId: e.id });
      }
      const m = /^caches\/(\d+)$/.exec(rest);
      const e = m ? entries.get(Number(m[1])) : undefined;
      if (m && !e) return json(404, { message: 'no such cache' });
      if (e && req.method === 'PATCH') {
        const range = /^bytes (\d+)-(\d+)\/\*$/.exec(String(req.headers['content-range'] ?? ''));
        if (!range || Number(range[2]) - Number(range[1]) + 1 !== body.length) return json(400, { message: 'bad Content-Range' });
        e.parts.set(range[1]!.padStart(16, '0'), body);
        return empty(204);
      }
      if (e && req.method === 'POST') {
        const { size } = JSON.parse(body.toString('utf8')) as { size: number };
        const data = Buffer.concat([...e.parts.keys()].sort().map((k) => e.parts.get(k)!));
        if (data.length !== size) return json(400, { message: `size ${size} does not match ${data.length} uploaded bytes` });
        e.data = data;
        e.seq = ++seq;
        return empty(204);
      }
    }
    return empty(404);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).then(
      (status) => requests.push({ method: req.method ?? '', path: new URL(req.url ?? '/', 'http://localhost').pathname, status }),
      (e) => {
        requests.push({ method: req.method ?? '', path: req.url ?? '', status: 500 });
        if (!res.headersSent) res.writeHead(500).end(String(e));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | undefined;
  return {
    url: base,
    v1Url: `${base}/v1/`,
    token,
    entries,
    requests,
    get throttle() {
      return state.throttle;
    },
    set throttle(n: number) {
      state.throttle = n;
    },
    keys: (prefix = '') => [...entries.values()].filter((e) => e.data && e.key.startsWith(prefix)).map((e) => e.key),
    stop: () =>
      (stopped ??= new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      })),
  };
}
