/**
 * Credentials the way the docker CLI keeps them: `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`) with `auths`, `credsStore` and `credHelpers`; helpers are the
 * `docker-credential-<name>` programs speaking JSON on stdin/stdout.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CredentialStore, Credentials } from './credentials.js';
import { CredentialsError } from './errors.js';

/** Docker Hub's key in config.json and the server URL its helpers are asked about. */
export const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}
interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Options of {@link DockerConfigCredentialStore}. */
export interface DockerConfigOptions {
  /** Directory holding config.json; default `$DOCKER_CONFIG`, else `~/.docker`. */
  configDir?: string;
  /** Environment for finding the config dir and running helpers (PATH); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Kill a credential helper that has not answered after this many ms (default 30 000). */
  helperTimeoutMs?: number;
}

/** `https://host/v1/` → `host`, as the docker CLI's ConvertToHostname does. */
function keyToHost(key: string): string {
  let s = key.replace(/^https?:\/\//, '');
  const slash = s.indexOf('/');
  if (slash >= 0) s = s.slice(0, slash);
  return s;
}

function isDockerHub(registry: string): boolean {
  return registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io';
}

/**
 * A {@link CredentialStore} over docker's config.json and credential helpers.
 *
 * Lookup order per registry, as the docker CLI does it: `credHelpers[registry]`, then
 * `credsStore`, then `auths`. A missing config file means "anonymous everywhere".
 *
 * @example
 * ```ts
 * const auth = new DockerConfigCredentialStore({ configDir: '/tmp/docker' });
 * await auth.get('docker.io'); // reads auths["https://index.docker.io/v1/"]
 * ```
 */
export class DockerConfigCredentialStore implements CredentialStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly dir: string;
  private readonly timeoutMs: number;
  private config: Promise<DockerConfigFile> | undefined;
  private readonly cache = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: DockerConfigOptions = {}) {
    this.env = options.env ?? process.env;
    this.dir = options.configDir ?? this.env.DOCKER_CONFIG ?? path.join(this.env.HOME ?? os.homedir(), '.docker');
    this.timeoutMs = options.helperTimeoutMs ?? 30_000;
  }

  /** Path of the config file this store reads. */
  get configFile(): string {
    return path.join(this.dir, 'config.json');
  }

  async get(registry: string): Promise<Credentials | undefined> {
    let p = this.cache.get(registry);
    if (!p) {
      p = this.lookup(registry);
      this.cache.set(registry, p);
      // Do not cache failures: a helper may work the next time (e.g. after unlocking a keychain).
      p.catch(() => this.cache.delete(registry));
    }
    return p;
  }

  private load(): Promise<DockerConfigFile> {
    this.config ??= (async () => {
      let text: string;
      try {
        text = await readFile(this.configFile, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw new CredentialsError(`cannot read ${this.configFile}: ${(e as Error).message}`, { configFile: this.configFile }, e);
      }
      try {
        const parsed = JSON.parse(text) as unknown;
        return typeof parsed === 'object' && parsed !== null ? (parsed as DockerConfigFile) : {};
      } catch (e) {
        throw new CredentialsError(
          `${this.configFile} is not valid JSON (${(e as Error).message}): fix or remove it, or point DOCKER_CONFIG elsewhere`,
          { configFile: this.configFile },
          e,
        );
      }
    })();
    return this.config;
  }

  private async lookup(registry: string): Promise<Credentials | undefined> {
    const config = await this.load();
    const hub = isDockerHub(registry);
    const keys = hub ? [DOCKER_HUB_CONFIG_KEY, 'docker.io', 'index.docker.io', 'registry-1.docker.io'] : [registry];
    const serverUrl = hub ? DOCKER_HUB_CONFIG_KEY : registry;
    for (const key of keys) {
      const helper = config.credHelpers?.[key];
      if (helper) return this.runHelper(helper, serverUrl, registry);
    }
    if (config.credsStore) {
      const found = await this.runHelper(config.credsStore, serverUrl, registry);
      if (found) return found;
    }
    const auths = config.auths ?? {};
    for (const key of keys) {
      const entry = auths[key] ?? Object.entries(auths).find(([k]) => keyToHost(k) === key)?.[1];
      if (entry) return this.fromEntry(entry, registry);
    }
    return undefined;
  }

  private fromEntry(entry: AuthEntry, registry: string): Credentials | undefined {
    const creds: Credentials = {};
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i < 0) {
        throw new CredentialsError(
          `the "auth" entry for ${registry} in ${this.configFile} is not base64 of "user:password": run docker login ${registry} again`,
          { registry, configFile: this.configFile },
        );
      }
      creds.username = decoded.slice(0, i);
      creds.password = decoded.slice(i + 1);
    } else {
      if (entry.username !== undefined) creds.username = entry.username;
      if (entry.password !== undefined) creds.password = entry.password;
    }
    if (entry.identitytoken) creds.identityToken = entry.identitytoken;
    if (entry.registrytoken) creds.registryToken = entry.registrytoken;
    return Object.keys(creds).length > 0 ? creds : undefined;
  }

  /** Runs `docker-credential-<name> get` with the server URL on stdin. */
  private runHelper(name: string, serverUrl: string, registry: string): Promise<Credentials | undefined> {
    const program = `docker-credential-${name}`;
    return new Promise((resolve, reject) => {
      const child = spawn(program, ['get'], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => {
        clearTimeout(timer);
        const hint = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${program} is not on PATH: install it or remove "${name}" from ${this.configFile}` : e.message;
        reject(new CredentialsError(`credential helper for ${registry} failed: ${hint}`, { registry, helper: program, configFile: this.configFile }, e));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code !== 0) {
          const text = (out + err).trim();
          // The helper protocol's "not found" answer: go anonymous, like the docker CLI.
          if (/credentials not found/i.test(text)) return resolve(undefined);
          return reject(
            new CredentialsError(
              `credential helper ${program} failed for ${registry} (${signal ? `killed by ${signal}` : `exit ${code}`}): ${text || 'no output'}`,
              { registry, helper: program, configFile: this.configFile },
            ),
          );
        }
        let parsed: { Username?: string; Secret?: string };
        try {
          parsed = JSON.parse(out) as { Username?: string; Secret?: string };
        } catch (e) {
          return reject(new CredentialsError(`credential helper ${program} printed invalid JSON for ${registry}`, { registry, helper: program }, e));
        }
        if (!parsed.Secret && !parsed.Username) return resolve(undefined);
        if (parsed.Username === '<token>') return resolve({ identityToken: parsed.Secret ?? '' });
        resolve({ username: parsed.Username ?? '', password: parsed.Secret ?? '' });
      });
      child.stdin.on('error', () => undefined); // the helper may exit without reading stdin
      child.stdin.end(serverUrl);
    });
  }
}
