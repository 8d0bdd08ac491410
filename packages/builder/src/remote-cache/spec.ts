/**
 * `--cache-to` / `--cache-from` values, with BuildKit's and buildx's spellings:
 *
 * ```
 * type=registry,ref=REF[,mode=min|max][,oci-mediatypes=true][,ignore-error=true]
 * type=local,dest=DIR[,tag=latest][,mode=…]      type=local,src=DIR[,tag=…|,digest=…]
 * type=gha[,scope=buildkit][,url=…][,url_v2=…][,token=…][,version=1|2][,mode=…]
 * REF                                             (a bare value means type=registry,ref=REF)
 * ```
 *
 * gha defaults come from the runner's environment as buildx fills them in: `ACTIONS_CACHE_URL`
 * (legacy v1 service), `ACTIONS_RESULTS_URL` (v2 "results" service) and `ACTIONS_RUNTIME_TOKEN`.
 */
import { OptionError, parseCsvPairs } from '../options/specs.js';

/** `min`: only the result's own steps; `max`: every step of every stage. BuildKit's default is `min`. */
export type CacheMode = 'min' | 'max';

/** Where the GitHub Actions cache service is and which protocol it speaks. */
export interface GhaEndpoint {
  /** 2: the twirp "results" service (`ACTIONS_RESULTS_URL`); 1: the legacy `_apis/artifactcache` API. */
  version: 1 | 2;
  /** Base URL of the chosen service. */
  url: string;
  token: string;
  /** Cache scope (BuildKit's default `buildkit`); one scope holds one cache manifest. */
  scope: string;
}

/** A parsed `--cache-to`. */
export type CacheExportSpec = (
  | { type: 'registry'; ref: string; ociMediaTypes: boolean }
  | { type: 'local'; dest: string; tag: string }
  | ({ type: 'gha' } & GhaEndpoint)
) & {
  mode: CacheMode;
  /** BuildKit's `ignore-error`. Export never throws here; with false, failures are also warnings. */
  ignoreError: boolean;
  /** Time budget for uploads in ms (`timeout=5m`), default 5 minutes. */
  timeoutMs?: number;
  /** Every attribute as given, keys lower-cased. */
  attrs: Record<string, string>;
};

/** A parsed `--cache-from`. */
export type CacheImportSpec = (
  | { type: 'registry'; ref: string }
  | { type: 'local'; src: string; tag?: string; digest?: string }
  | ({ type: 'gha' } & GhaEndpoint)
) & { timeoutMs?: number; attrs: Record<string, string> };

const FLAG_TO = '--cache-to';
const FLAG_FROM = '--cache-from';

function parseBool(v: string, flag: string, key: string): boolean {
  if (v === '' || /^(1|t|true|yes)$/i.test(v)) return true;
  if (/^(0|f|false|no)$/i.test(v)) return false;
  throw new OptionError(`${flag}: ${key}=${v} is not a boolean (true or false)`, { key, value: v });
}

/**
 * A Go-style duration (`90s`, `5m`, `1h30m`, `250ms`) or a bare number of seconds, in ms.
 *
 * @example
 * parseDuration('1m30s', '--cache-to') // 90000
 */
export function parseDuration(value: string, flag: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== value.length || value === '') throw new OptionError(`${flag}: timeout=${value} is not a duration (like 30s, 5m or 1h)`, { value });
  return Math.round(total);
}

function attrsOf(value: string, flag: string): Record<string, string> {
  // buildx: a value without '=' is a registry reference.
  if (!value.includes('=')) return { type: 'registry', ref: value.trim() };
  const attrs: Record<string, string> = {};
  for (const [k, v] of parseCsvPairs(value, flag)) attrs[k] = v;
  return attrs;
}

function parseMode(attrs: Record<string, string>, flag: string): CacheMode {
  const mode = attrs.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new OptionError(`${flag}: mode=${mode} is not valid (use min or max)`, { mode });
  return mode;
}

function unsupported(type: string | undefined, flag: string, value: string): never {
  if (type === undefined) throw new OptionError(`${flag} ${value}: missing type= (registry, local or gha)`);
  const hint = type === 'inline' ? ' (inline cache needs an image exporter; use type=registry with a separate ref instead)' : '';
  throw new OptionError(`${flag} type=${type} is not supported${hint}; use registry, local or gha`, { type });
}

/** Scope strings become part of cache keys; GitHub rejects keys with commas, and spaces break silently. */
function checkScope(scope: string, flag: string): string {
  if (scope === '' || /[\s,#]/.test(scope) || scope.length > 256) {
    throw new OptionError(`${flag}: scope=${JSON.stringify(scope)} is not valid: use 1-256 characters without spaces, commas or # (e.g. the branch name with / kept)`, { scope });
  }
  return scope;
}

function ghaEndpoint(attrs: Record<string, string>, env: NodeJS.ProcessEnv, flag: string): GhaEndpoint {
  const scope = checkScope(attrs.scope ?? 'buildkit', flag);
  const token = attrs.token ?? env.ACTIONS_RUNTIME_TOKEN ?? '';
  const v1 = attrs.url ?? env.ACTIONS_CACHE_URL ?? '';
  const v2 = attrs.url_v2 ?? env.ACTIONS_RESULTS_URL ?? '';
  // BuildKit's rules (remotecache/gha): version=1 forces the legacy URL; otherwise url_v2 wins
  // when present (buildx fills it from ACTIONS_RESULTS_URL); a bare url is v2 only when it is the
  // results service's own host.
  if (attrs.version !== undefined && attrs.version !== '1' && attrs.version !== '2') {
    throw new OptionError(`${flag}: version=${attrs.version} is not valid (use 1 or 2)`);
  }
  let version: 1 | 2 | undefined = attrs.version === '1' ? 1 : undefined;
  let url = '';
  if (version !== 1 && v2) {
    url = v2;
    version = 2;
  }
  if (!url) url = v1;
  version ??= attrs.version === '2' || url.includes('results-receiver.actions.githubusercontent.com') ? 2 : 1;
  if (!url) {
    throw new OptionError(
      `${flag} type=gha: no cache service URL: set url_v2= (or url= for the legacy service), or run inside a GitHub Actions JavaScript action or after crazy-max/ghaction-github-runtime so ACTIONS_RESULTS_URL is set`,
    );
  }
  if (!token) {
    throw new OptionError(`${flag} type=gha: no token: set token= or ACTIONS_RUNTIME_TOKEN (exposed to JavaScript actions, or by crazy-max/ghaction-github-runtime)`);
  }
  return { version, url, token, scope };
}

/**
 * Parses a `--cache-to` value.
 *
 * @example
 * parseCacheExportSpec('type=registry,ref=127.0.0.1:5000/app:cache,mode=max')
 * // { type: 'registry', ref: '127.0.0.1:5000/app:cache', mode: 'max', ociMediaTypes: true, ignoreError: false, attrs }
 */
export function parseCacheExportSpec(value: string, env: NodeJS.ProcessEnv = process.env): CacheExportSpec {
  const attrs = attrsOf(value, FLAG_TO);
  const mode = parseMode(attrs, FLAG_TO);
  const ignoreError = attrs['ignore-error'] !== undefined && parseBool(attrs['ignore-error'], FLAG_TO, 'ignore-error');
  const common = { mode, ignoreError, attrs, ...(attrs.timeout !== undefined ? { timeoutMs: parseDuration(attrs.timeout, FLAG_TO) } : {}) };
  switch (attrs.type) {
    case 'registry': {
      if (!attrs.ref) throw new OptionError(`${FLAG_TO} type=registry needs ref=REGISTRY/REPOSITORY:TAG`);
      const ociMediaTypes = attrs['oci-mediatypes'] === undefined ? true : parseBool(attrs['oci-mediatypes'], FLAG_TO, 'oci-mediatypes');
      return { type: 'registry', ref: attrs.ref, ociMediaTypes, ...common };
    }
    case 'local':
      if (!attrs.dest) throw new OptionError(`${FLAG_TO} type=local needs dest=DIR`);
      return { type: 'local', dest: attrs.dest, tag: attrs.tag || 'latest', ...common };
    case 'gha':
      return { type: 'gha', ...ghaEndpoint(attrs, env, FLAG_TO), ...common };
    default:
      return unsupported(attrs.type, FLAG_TO, value);
  }
}

/**
 * Parses a `--cache-from` value.
 *
 * @example
 * parseCacheImportSpec('type=local,src=/tmp/cache') // { type: 'local', src: '/tmp/cache', attrs }
 * parseCacheImportSpec('ghcr.io/o/app:cache')       // { type: 'registry', ref: 'ghcr.io/o/app:cache', attrs }
 */
export function parseCacheImportSpec(value: string, env: NodeJS.ProcessEnv = process.env): CacheImportSpec {
  const attrs = attrsOf(value, FLAG_FROM);
  const common = { attrs, ...(attrs.timeout !== undefined ? { timeoutMs: parseDuration(attrs.timeout, FLAG_FROM) } : {}) };
  switch (attrs.type) {
    case 'registry':
      if (!attrs.ref) throw new OptionError(`${FLAG_FROM} type=registry needs ref=REGISTRY/REPOSITORY:TAG`);
      return { type: 'registry', ref: attrs.ref, ...common };
    case 'local':
      if (!attrs.src) throw new OptionError(`${FLAG_FROM} type=local needs src=DIR`);
      return {
        type: 'local',
        src: attrs.src,
        ...(attrs.tag ? { tag: attrs.tag } : {}),
        ...(attrs.digest ? { digest: attrs.digest } : {}),
        ...common,
      };
    case 'gha':
      return { type: 'gha', ...ghaEndpoint(attrs, env, FLAG_FROM), ...common };
    default:
      return unsupported(attrs.type, FLAG_FROM, value);
  }
}
