/**
 * HTTP to registries: endpoint selection (https, plain http for loopback and insecure registries,
 * mirrors), authentication (Basic, and the Bearer token flow with tokens cached per scope set),
 * and retries with exponential backoff on 429/5xx/connection resets, honouring Retry-After.
 */
import { Readable } from 'node:stream';
import type { Credentials, CredentialStore } from '../auth/credentials.js';
import { registryApiHost } from '../reference/parse.js';
import { parseChallenge, type AuthChallenge } from './challenge.js';
import { RegistryError } from './errors.js';

/** One place a repository can be reached: the registry itself or a mirror of it. */
export interface Endpoint {
  /** The registry name from the reference (`docker.io`, `127.0.0.1:5000`), for messages. */
  registry: string;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5001`, optionally with a path prefix. */
  base: string;
  /** host[:port] of `base`: the key credentials are looked up by. */
  host: string;
  mirror: boolean;
}

/** A request body that can be produced again for a retry, or a one-shot stream. */
export type RequestBody =
  | { kind: 'bytes'; data: Uint8Array | string }
  | { kind: 'stream'; open: () => Readable | AsyncIterable<Uint8Array>; replayable: boolean };

export interface TransportRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the endpoint base (`/v2/…`) or an absolute URL (upload Location). */
  url: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Token scopes this request needs, e.g. `repository:x:pull`. */
  scopes: string[];
  /** The image as the user wrote it, for error messages. */
  image: string;
}

export interface TransportOptions {
  insecureRegistries?: string[];
  auth?: CredentialStore;
  userAgent?: string;
  retries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  signal?: AbortSignal;
}

interface TokenEntry {
  token: string;
  expiresAt: number;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EAI_AGAIN']);
const TLS_PLAIN_HTTP = /wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|http request/i;
const TLS_UNTRUSTED = /SELF_SIGNED|UNABLE_TO_VERIFY|CERT_|certificate/i;

/** True for hosts where plain HTTP is allowed without configuration (as Docker does for 127.0.0.0/8). */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function errorCode(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'E_REGISTRY') return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return '';
}

function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur; i++) {
    const m = (cur as { message?: unknown }).message;
    if (typeof m === 'string' && !parts.includes(m)) parts.push(m);
    cur = (cur as { cause?: unknown }).cause;
  }
  // OpenSSL messages carry a hex prefix and a source path; keep only the reason.
  return parts
    .map((m) => /SSL routines:[^:]*:([^:]+)/.exec(m)?.[1] ?? m)
    .join(': ')
    .replace(/\s+/g, ' ')
    .trim();
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Registry error codes from a JSON error body (`{"errors":[{"code":"…","message":"…"}]}`). */
export async function readRegistryErrors(res: Response): Promise<{ codes: string[]; text: string }> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    return { codes: [], text: '' };
  }
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
    const errs = body.errors ?? [];
    return {
      codes: errs.map((x) => x.code ?? '').filter(Boolean),
      text: errs.map((x) => [x.code, x.message].filter(Boolean).join(': ')).join('; '),
    };
  } catch {
    return { codes: [], text: text.slice(0, 200) };
  }
}

export class RegistryTransport {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly credentials = new Map<string, Promise<Credentials | undefined>>();
  private readonly insecure: Set<string>;

  constructor(private readonly options: TransportOptions) {
    this.insecure = new Set(options.insecureRegistries ?? []);
  }

  /** The endpoint of a registry itself (not a mirror). */
  endpointFor(registry: string): Endpoint {
    const host = registryApiHost(registry);
    const scheme = this.isPlainHttp(registry) || this.isPlainHttp(host) ? 'http' : 'https';
    return { registry, base: `${scheme}://${host}`, host, mirror: false };
  }

  /** An endpoint for a mirror given as `host[:port][/path]` or a full `http(s)://` URL. */
  mirrorEndpoint(registry: string, mirror: string): Endpoint {
    const withScheme = /^https?:\/\//.test(mirror) ? mirror : `${this.isPlainHttp(mirror.split('/')[0]!) ? 'http' : 'https'}://${mirror}`;
    const u = new URL(withScheme);
    const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '').replace(/\/v2$/, '')}`;
    return { registry, base, host: u.host, mirror: true };
  }

  private isPlainHttp(host: string): boolean {
    return isLoopbackHost(host) || this.insecure.has(host);
  }

  private creds(host: string): Promise<Credentials | undefined> {
    let p = this.credentials.get(host);
    if (!p) {
      p = this.options.auth ? this.options.auth.get(host) : Promise.resolve(undefined);
      this.credentials.set(host, p);
    }
    return p;
  }

  /** The Authorization header for a request, when the endpoint's challenge is known. */
  private async authorization(ep: Endpoint, scopes: string[], image: string): Promise<string | undefined> {
    const challenge = this.challenges.get(ep.base);
    if (!challenge) return undefined;
    const creds = await this.creds(credentialKey(ep));
    if (challenge.scheme === 'basic') {
      if (!creds?.username && !creds?.password) return undefined;
      return `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const wanted = scopes.length > 0 ? scopes : challenge.params.scope ? challenge.params.scope.split(' ') : [];
    const key = `${ep.base}\n${[...new Set(wanted)].sort().join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const entry = await this.fetchToken(ep, challenge, wanted, creds, image);
    this.tokens.set(key, entry);
    return `Bearer ${entry.token}`;
  }

  private async fetchToken(ep: Endpoint, challenge: AuthChallenge, scopes: string[], creds: Credentials | undefined, image: string): Promise<TokenEntry> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError(`registry ${ep.host} sent a Bearer challenge without a realm; cannot authenticate for ${image}`, {
        image, registry: ep.registry, reason: 'protocol',
      });
    }
    const url = new URL(realm);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    let init: RequestInit;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as the docker CLI does after `docker login` with a token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'build-image' });
      if (challenge.params.service) form.set('service', challenge.params.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      init = { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() };
    } else {
      if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds?.username || creds?.password) {
        headers.authorization = `Basic ${Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64')}`;
      }
      init = { method: 'GET', headers };
    }
    const res = await this.fetchWithRetry(url.toString(), init, { registry: ep.registry, image, host: url.host }, true);
    if (res.status === 401 || res.status === 403) {
      await res.arrayBuffer().catch(() => undefined);
      throw authError(ep, image, res.status, creds, 'the token server rejected the credentials');
    }
    if (!res.ok) {
      const { text } = await readRegistryErrors(res);
      throw new RegistryError(`token server ${url.host} answered ${res.status} for ${image}${text ? `: ${text}` : ''}`, {
        image, registry: ep.registry, status: res.status, reason: 'http',
      });
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`token server ${url.host} returned no token for ${image}`, { image, registry: ep.registry, reason: 'protocol' });
    }
    // Renew a little early; the spec's default lifetime is 60 s.
    const lifetime = Math.max(10, (body.expires_in ?? 60) - 5) * 1000;
    return { token, expiresAt: Date.now() + lifetime };
  }

  get userAgent(): string {
    return this.options.userAgent ?? 'build-image/0.1';
  }

  /**
   * Sends a request with authentication (answering one 401 challenge) and retries. The response
   * body is left for the caller to consume; 401 after authenticating becomes a RegistryError.
   */
  async request(ep: Endpoint, req: TransportRequest): Promise<Response> {
    const url = /^https?:\/\//.test(req.url) ? req.url : `${ep.base}${req.url}`;
    const replayable = !req.body || req.body.kind === 'bytes' || req.body.replayable;
    for (let attempt = 0; ; attempt++) {
      const authz = await this.authorization(ep, req.scopes, req.image);
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (authz) headers.authorization = authz;
      const res = await this.fetchWithRetry(url, () => this.init(req, headers), { registry: ep.registry, image: req.image, host: ep.host }, replayable);
      if (res.status !== 401) return res;
      const challenge = parseChallenge(res.headers.get('www-authenticate'));
      await res.arrayBuffer().catch(() => undefined);
      const creds = await this.creds(credentialKey(ep));
      if (challenge) this.challenges.set(ep.base, challenge);
      // Retry once: after first contact (sent without credentials, perhaps while a concurrent
      // request learnt the challenge), or with a fresh token (expired, or lacking a scope).
      if (attempt === 0 && challenge && replayable) {
        if (!authz) continue;
        if (challenge.scheme === 'bearer') {
          for (const k of this.tokens.keys()) if (k.startsWith(`${ep.base}\n`)) this.tokens.delete(k);
          continue;
        }
      }
      throw authError(ep, req.image, 401, creds, undefined, challenge?.params.error);
    }
  }

  private init(req: TransportRequest, headers: Record<string, string>): RequestInit {
    const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers, redirect: 'follow' };
    if (this.options.signal) init.signal = this.options.signal;
    if (req.body?.kind === 'bytes') init.body = typeof req.body.data === 'string' ? req.body.data : Buffer.from(req.body.data);
    else if (req.body?.kind === 'stream') {
      const src = req.body.open();
      const readable = src instanceof Readable ? src : Readable.from(src);
      init.body = Readable.toWeb(readable) as unknown as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    return init;
  }

  /** fetch with retries on 408/429/5xx and connection errors; maps TLS and network failures. */
  async fetchWithRetry(
    url: string,
    init: RequestInit | (() => RequestInit),
    ctx: { registry: string; image: string; host: string },
    replayable: boolean,
  ): Promise<Response> {
    const retries = replayable ? (this.options.retries ?? 4) : 0;
    const base = this.options.retryBaseDelayMs ?? 250;
    const max = this.options.retryMaxDelayMs ?? 30_000;
    for (let attempt = 0; ; attempt++) {
      const reqInit = typeof init === 'function' ? init() : init;
      if (this.options.signal && !reqInit.signal) reqInit.signal = this.options.signal;
      let res: Response;
      try {
        res = await fetch(url, reqInit);
      } catch (e) {
        if (this.options.signal?.aborted) throw e;
        const code = errorCode(e);
        const text = errorText(e);
        if (url.startsWith('https:') && TLS_PLAIN_HTTP.test(`${code} ${text}`)) {
          throw new RegistryError(
            `cannot talk HTTPS to ${ctx.host} for ${ctx.image} (${text}): it looks like a plain-HTTP registry; allow it with --insecure-registry ${ctx.host}`,
            { image: ctx.image, registry: ctx.registry, reason: 'tls', host: ctx.host },
            e,
          );
        }
        if (url.startsWith('https:') && TLS_UNTRUSTED.test(`${code} ${text}`)) {
          throw new RegistryError(
            `TLS certificate of ${ctx.host} is not trusted (${text}) while fetching ${ctx.image}: add its CA with NODE_EXTRA_CA_CERTS, or use --insecure-registry ${ctx.host} for plain HTTP`,
            { image: ctx.image, registry: ctx.registry, reason: 'tls', host: ctx.host },
            e,
          );
        }
        if (attempt < retries && (RETRY_CODES.has(code) || /other side closed|socket hang up/i.test(text))) {
          await sleep(Math.min(max, base * 2 ** attempt), this.options.signal);
          continue;
        }
        throw new RegistryError(`cannot reach registry ${ctx.host} for ${ctx.image}: ${text}`, {
          image: ctx.image, registry: ctx.registry, reason: 'network', host: ctx.host, errno: code,
        }, e);
      }
      if (attempt < retries && RETRY_STATUS.has(res.status)) {
        const delay = retryAfter(res.headers.get('retry-after')) ?? base * 2 ** attempt;
        await res.arrayBuffer().catch(() => undefined);
        await sleep(Math.min(max, delay), this.options.signal);
        continue;
      }
      return res;
    }
  }
}

/** Retry-After as milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function authError(ep: Endpoint, image: string, status: number, creds: Credentials | undefined, what?: string, challengeError?: string): RegistryError {
  const hasCreds = !!(creds && (creds.username || creds.password || creds.identityToken || creds.registryToken));
  // Token registries (Docker Hub among them) answer insufficient_scope for missing repositories too.
  const maybeMissing = challengeError === 'insufficient_scope' ? ' (registries also answer this way when the repository does not exist)' : '';
  const message = hasCreds
    ? `authentication failed for ${image}: ${what ?? `${ep.host} rejected the credentials${creds?.username ? ` of ${creds.username}` : ''} or they do not grant access`}; run docker login ${ep.registry} or check ~/.docker/config.json${maybeMissing}`
    : `authentication required for ${image}: run docker login ${ep.registry} or check ~/.docker/config.json${maybeMissing}`;
  return new RegistryError(message, {
    image,
    registry: ep.registry,
    status,
    reason: 'unauthorized',
    host: ep.host,
    ...(challengeError ? { challengeError } : {}),
  });
}

/**
 * The key credentials are looked up by: the registry name from the reference (`docker.io`, not
 * `registry-1.docker.io`), or a mirror's own host.
 */
export function credentialKey(ep: Endpoint): string {
  return ep.mirror ? ep.host : ep.registry;
}
