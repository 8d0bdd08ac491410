/**
 * A real, throw-away OCI registry on loopback for end-to-end tests: Debian's `docker-registry`
 * (distribution 2.8) with filesystem storage in its own temp dir, optionally behind htpasswd basic
 * auth or a bearer-token server run in this process. Also a small HTTP proxy for fault injection.
 *
 * @example
 * ```ts
 * import { startRegistry } from '../../../test/helpers/registry.js';
 * const reg = await startRegistry({ auth: 'token' });
 * try {
 *   // push to `${reg.host}/app:1` with { username: reg.username, password: reg.password }
 * } finally {
 *   await reg.stop();
 * }
 * ```
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const execFileP = promisify(execFile);
const REGISTRY_BIN = process.env.BUILD_IMAGE_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** `none` (default): open. `htpasswd`: basic auth. `token`: bearer tokens from a loopback token server. */
  auth?: 'none' | 'htpasswd' | 'token';
  /** User name accepted by htpasswd/token auth (default `testuser`). */
  username?: string;
  /** Password accepted by htpasswd/token auth (default `testpassword`). */
  password?: string;
  /** Token mode only: grant `pull` to anonymous token requests (default false: anonymous gets no access). */
  anonymousPull?: boolean;
  /** Token mode: an OAuth2 refresh token the token server accepts for `username` (default `test-refresh-token`). */
  refreshToken?: string;
  /** Listen on this port instead of a free one (then a busy port is an error, not retried). */
  port?: number;
}

/** One request the token server answered (token mode), for asserting scopes. */
export interface TokenRequest {
  /** Basic-auth user name, or undefined for anonymous requests. */
  account: string | undefined;
  /** The `scope` query parameters, in order. */
  scopes: string[];
  /** HTTP status the token server answered with. */
  status: number;
}

/** A running registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Set for `htpasswd` and `token` auth. */
  username?: string;
  password?: string;
  auth: 'none' | 'htpasswd' | 'token';
  /** The registry's filesystem storage root. */
  storageDir: string;
  /** Token mode: every token request so far (cleared by you when convenient). */
  tokenRequests: TokenRequest[];
  /** Kills the registry (and token server) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

let setprivChecked: boolean | undefined;
function hasSetpriv(): boolean {
  if (setprivChecked === undefined) {
    try {
      setprivChecked = /pdeathsig/.test(execFileSync('setpriv', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      setprivChecked = false;
    }
  }
  return setprivChecked;
}

/** A free TCP port on 127.0.0.1 (asked from the kernel; a tiny race remains, handled by retrying). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `docker-registry serve` on a free loopback port, waits until `/v2/` answers, and returns
 * its address. Rejects with the registry's stderr when it fails to start.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (e) {
      lastError = e;
      // Only a lost port race is worth retrying.
      if (options.port !== undefined || !/address already in use/i.test(String((e as Error).message))) throw e;
    }
  }
  throw lastError;
}

async function startOnce(options: StartRegistryOptions): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const username = options.username ?? 'testuser';
  const password = options.password ?? 'testpassword';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bi-registry-'));
  const storageDir = path.join(dir, 'storage');
  await mkdir(storageDir);
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const tokenRequests: TokenRequest[] = [];
  const nonce = randomBytes(8).toString('hex');
  let tokenServer: http.Server | undefined;

  const config: string[] = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    // A nonce header proves the process answering the readiness probe is this one, not a stranger on a reused port.
    '  headers:',
    `    X-Test-Registry-Nonce: [${nonce}]`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (auth === 'htpasswd') {
    const file = path.join(dir, 'htpasswd');
    await writeFile(file, `${username}:${bcrypt.hashSync(password, 5)}\n`);
    config.push('auth:', '  htpasswd:', '    realm: test-registry', `    path: ${file}`);
  } else if (auth === 'token') {
    const { keyPem, certPem } = await tokenSigningCert();
    const bundle = path.join(dir, 'token-cert.pem');
    await writeFile(bundle, certPem);
    const issuer = 'build-image-test-token-issuer';
    const service = `registry-${port}`;
    tokenServer = await startTokenServer({
      keyPem,
      certPem,
      issuer,
      service,
      username,
      password,
      anonymousPull: options.anonymousPull ?? false,
      refreshToken: options.refreshToken ?? 'test-refresh-token',
      log: tokenRequests,
    });
    const tokenPort = (tokenServer.address() as net.AddressInfo).port;
    config.push(
      'auth:',
      '  token:',
      `    realm: http://127.0.0.1:${tokenPort}/token`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${bundle}`,
    );
  }
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, config.join('\n') + '\n');

  // setpriv --pdeathsig makes the kernel kill the registry if this test process dies without
  // running its clean-up (a killed vitest worker), so no registry outlives its test run.
  const [cmd, args] = hasSetpriv()
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', REGISTRY_BIN, 'serve', configPath]]
    : [REGISTRY_BIN, ['serve', configPath]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited: { code: number | null; signal: string | null } | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));

  const cleanup = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(timer);
    }
    if (tokenServer) {
      tokenServer.closeAllConnections();
      await new Promise<void>((r) => tokenServer!.close(() => r()));
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (spawnError || exited) {
      await cleanup();
      throw new Error(
        `docker-registry failed to start (${spawnError ? spawnError.message : `exit ${exited!.code ?? exited!.signal}`}):\n${output.trim()}`,
      );
    }
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if ((res.status === 200 || res.status === 401) && res.headers.get('x-test-registry-nonce') === nonce) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await cleanup();
      throw new Error(`docker-registry did not answer on http://${host}/v2/ within 15s:\n${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopped: Promise<void> | undefined;
  return {
    host,
    url: `http://${host}`,
    port,
    auth,
    storageDir,
    tokenRequests,
    ...(auth === 'none' ? {} : { username, password }),
    stop: () => (stopped ??= cleanup()),
  };
}

// ---------------------------------------------------------------------------------------------
// Bearer-token server (the "Docker registry v2 authentication via central service" protocol)

let certPromise: Promise<{ keyPem: string; certPem: string }> | undefined;

/** An RSA key and self-signed certificate for signing tokens, made once per process with openssl. */
async function tokenSigningCert(): Promise<{ keyPem: string; certPem: string }> {
  certPromise ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bi-token-cert-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      await execFileP('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
        '-days', '3650', '-subj', '/CN=build-image test token issuer',
      ]);
      return { keyPem: await readFile(key, 'utf8'), certPem: await readFile(cert, 'utf8') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return certPromise;
}

interface TokenServerOptions {
  keyPem: string;
  certPem: string;
  issuer: string;
  service: string;
  username: string;
  password: string;
  anonymousPull: boolean;
  refreshToken: string;
  log: TokenRequest[];
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

async function startTokenServer(o: TokenServerOptions): Promise<http.Server> {
  const key = createPrivateKey(o.keyPem);
  // The registry checks the x5c chain against its rootcertbundle, which holds this very cert.
  const x5c = [new X509Certificate(o.certPem).raw.toString('base64')];
  const server = http.createServer((req, res) => {
    let form = '';
    req.on('data', (d: Buffer) => (form += d.toString()));
    req.on('end', () => answer(req, res, form));
  });
  const answer = (req: http.IncomingMessage, res: http.ServerResponse, form: string) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let scopes = url.searchParams.getAll('scope');
    let account: string | undefined;
    const authz = req.headers.authorization;
    const reject = (user: string | undefined) => {
      o.log.push({ account: user, scopes, status: 401 });
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
    };
    if (req.method === 'POST') {
      // OAuth2 refresh-token grant (what clients with an identity token use).
      const p = new URLSearchParams(form);
      scopes = (p.get('scope') ?? '').split(' ').filter(Boolean);
      if (p.get('grant_type') !== 'refresh_token' || p.get('refresh_token') !== o.refreshToken || p.get('service') !== o.service) return reject(undefined);
      account = o.username;
    } else if (authz?.startsWith('Basic ')) {
      const decoded = Buffer.from(authz.slice(6), 'base64').toString();
      const i = decoded.indexOf(':');
      const user = decoded.slice(0, i);
      if (user !== o.username || decoded.slice(i + 1) !== o.password) return reject(user);
      account = user;
    }
    if (url.pathname !== '/token' || (req.method !== 'POST' && url.searchParams.get('service') !== o.service)) {
      o.log.push({ account, scopes, status: 400 });
      res.writeHead(400).end();
      return;
    }
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const scope of scopes) {
      // repository:<name>:<actions>; the name may itself contain ':' only for a port, never here.
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last === first) continue;
      const wanted = scope.slice(last + 1).split(',');
      const actions = account ? wanted : o.anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      access.push({ type: scope.slice(0, first), name: scope.slice(first + 1, last), actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = {
      iss: o.issuer,
      sub: account ?? '',
      aud: o.service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    o.log.push({ account, scopes, status: 200 });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

// ---------------------------------------------------------------------------------------------
// Fault-injecting proxy

/** What {@link startProxy}'s `intercept` sees for each request. */
export interface ProxyRequest {
  method: string;
  /** Path and query, e.g. `/v2/x/blobs/sha256:…`. */
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A running proxy. */
export interface TestProxy {
  host: string;
  url: string;
  port: number;
  /** Every request seen so far, in arrival order. */
  requests: ProxyRequest[];
  stop(): Promise<void>;
}

/**
 * Starts an HTTP proxy on loopback in front of `target` (e.g. `http://127.0.0.1:5000`). For each
 * request `intercept` may answer itself (return true after writing to `res`), or let it pass
 * (return false/undefined). `transformResponse` may replace a passed-through response body.
 *
 * @example
 * ```ts
 * let n = 0;
 * const proxy = await startProxy(reg.url, { intercept: (req, res) => ++n <= 2 && (res.writeHead(503).end(), true) });
 * ```
 */
export async function startProxy(
  target: string,
  hooks: {
    intercept?: (req: ProxyRequest, res: http.ServerResponse) => boolean | undefined | void;
    transformResponse?: (req: ProxyRequest, status: number, body: Buffer) => Buffer;
    /** Milliseconds to hold a request before forwarding it (to make concurrency observable). */
    delay?: (req: ProxyRequest) => number;
    /** Called when the answer to a request has been sent (or the connection closed). */
    onDone?: (req: ProxyRequest) => void;
    /** Address to listen on, default 127.0.0.1 (use a non-loopback one to test TLS/insecure handling). */
    listen?: string;
  } = {},
): Promise<TestProxy> {
  const requests: ProxyRequest[] = [];
  const targetUrl = new URL(target);
  const server = http.createServer((req, res) => {
    const info: ProxyRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    requests.push(info);
    if (hooks.onDone) res.once('close', () => hooks.onDone!(info));
    if (hooks.intercept?.(info, res)) {
      req.resume();
      return;
    }
    const wait = hooks.delay?.(info) ?? 0;
    if (wait > 0) {
      req.pause();
      setTimeout(() => forward(req, res, info), wait);
    } else forward(req, res, info);
  });
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, info: ProxyRequest) => {
    const headers = { ...req.headers, host: targetUrl.host };
    const upstream = http.request(
      { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers },
      (up) => {
        const outHeaders = { ...up.headers };
        // Locations the registry returns name itself; keep the client talking through the proxy.
        if (typeof outHeaders.location === 'string') {
          outHeaders.location = outHeaders.location.replace(`//${targetUrl.host}`, `//${req.headers.host}`);
        }
        if (!hooks.transformResponse) {
          res.writeHead(up.statusCode ?? 502, outHeaders);
          up.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = hooks.transformResponse!(info, up.statusCode ?? 502, Buffer.concat(chunks));
          if (outHeaders['content-length'] !== undefined) outHeaders['content-length'] = String(body.length);
          res.writeHead(up.statusCode ?? 502, outHeaders);
          res.end(body);
        });
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, hooks.listen ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const listenHost = hooks.listen ?? '127.0.0.1';
  let stopped: Promise<void> | undefined;
  return {
    host: `${listenHost}:${port}`,
    url: `http://${listenHost}:${port}`,
    port,
    requests,
    stop: () =>
      (stopped ??= new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      })),
  };
}
