/**
 * Parsing of the option values that `docker buildx build` takes as CSV key=value lists
 * (`--output type=oci,dest=out.tar`, `--secret id=npm,src=~/.npmrc`, `--cache-to type=local,dest=d`)
 * and the `NAME=VALUE` forms (`--build-context`, `--build-arg`), with buildx's shorthands.
 * The CLI and the GitHub Action both go through here, so they accept the same spellings.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { isIP } from 'node:net';
import { BuildError } from '@build-image/errors';

/**
 * A flag value that cannot be parsed (code `E_OPTION`); the message names the flag and the expected form.
 *
 * @example
 * ```ts
 * try { parseOutputSpec('type=bogus') } catch (e) { if (e instanceof OptionError) console.error(e.message) }
 * ```
 */
export class OptionError extends BuildError {
  override readonly name = 'OptionError';
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('E_OPTION', message, { data });
  }
}

/**
 * One CSV option value as ordered key/value pairs (`type=oci,dest=x` → [['type','oci'],['dest','x']]).
 *
 * @example
 * ```ts
 * parseCsvPairs('type=oci,dest=x', '--output') // [['type', 'oci'], ['dest', 'x']]
 * ```
 */
export function parseCsvPairs(value: string, flag: string): Array<[string, string]> {
  let fields: string[];
  try {
    fields = (parseCsv(value, { relax_quotes: true, trim: false }) as string[][])[0] ?? [];
  } catch (e) {
    throw new OptionError(`${flag}: cannot parse "${value}" as comma-separated key=value pairs: ${(e as Error).message}`, { value });
  }
  return fields.map((f) => {
    const eq = f.indexOf('=');
    return eq < 0 ? [f.trim().toLowerCase(), ''] : [f.slice(0, eq).trim().toLowerCase(), f.slice(eq + 1)];
  });
}

function parseBool(v: string, flag: string, key: string): boolean {
  if (v === '' || /^(1|t|true|yes)$/i.test(v)) return true;
  if (/^(0|f|false|no)$/i.test(v)) return false;
  throw new OptionError(`${flag}: ${key}=${v} is not a boolean (true or false)`, { key, value: v });
}

/** Where a build's image goes (BuildKit exporters). */
export type OutputSpec =
  | { type: 'oci' | 'docker'; dest?: string; tar: boolean; names: string[]; attrs: Record<string, string> }
  | { type: 'local'; dest: string; attrs: Record<string, string> }
  | { type: 'tar'; dest: string; attrs: Record<string, string> }
  | { type: 'image' | 'registry'; names: string[]; push: boolean; insecure: boolean; attrs: Record<string, string> };

/**
 * `--output` as buildx reads it: `type=...,dest=...`, or a bare path meaning `type=local,dest=PATH`
 * (`-` means a tar on stdout).
 *
 * @example
 * ```ts
 * parseOutputSpec('type=oci,dest=app.tar') // { type: 'oci', dest: 'app.tar', tar: true, names: [], attrs: { type: 'oci', dest: 'app.tar' } }
 * parseOutputSpec('out')                   // { type: 'local', dest: 'out', attrs: {} }
 * ```
 */
export function parseOutputSpec(value: string): OutputSpec {
  if (!value.includes('=')) {
    return value === '-' ? { type: 'tar', dest: '-', attrs: {} } : { type: 'local', dest: value, attrs: {} };
  }
  const attrs: Record<string, string> = {};
  for (const [k, v] of parseCsvPairs(value, '--output')) attrs[k] = v;
  const type = attrs.type;
  const names = (attrs.name ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  switch (type) {
    case 'oci':
    case 'docker': {
      const tar = attrs.tar === undefined ? true : parseBool(attrs.tar, '--output', 'tar');
      if (!tar && !attrs.dest) throw new OptionError(`--output type=${type},tar=false needs dest=DIR`);
      if (!tar && type === 'docker') throw new OptionError('--output type=docker,tar=false is not supported: use type=oci,dest=DIR,tar=false for a layout directory');
      return { type, ...(attrs.dest !== undefined ? { dest: attrs.dest } : {}), tar, names, attrs };
    }
    case 'local':
    case 'tar':
      if (!attrs.dest) throw new OptionError(`--output type=${type} needs dest=PATH`);
      return { type, dest: attrs.dest, attrs };
    case 'image':
    case 'registry':
      return {
        type,
        names,
        push: type === 'registry' || (attrs.push !== undefined && parseBool(attrs.push, '--output', 'push')),
        insecure: attrs['registry.insecure'] !== undefined && parseBool(attrs['registry.insecure'], '--output', 'registry.insecure'),
        attrs,
      };
    case undefined:
      throw new OptionError(`--output ${value}: missing type= (oci, docker, local, tar, image or registry)`);
    default:
      throw new OptionError(`--output type=${type} is not supported (use oci, docker, local, tar, image or registry)`, { type });
  }
}

/** A named build context (`--build-context NAME=VALUE`). */
export type BuildContextSpec =
  | { name: string; kind: 'image'; ref: string }
  | { name: string; kind: 'oci-layout'; dir: string; tag?: string; digest?: string }
  | { name: string; kind: 'local'; dir: string };

/**
 * `--build-context NAME=SRC` as buildx reads it: `oci-layout://DIR[:TAG|@DIGEST]`, `docker-image://REF`, or a local directory.
 *
 * @example
 * ```ts
 * parseBuildContextSpec('base=oci-layout:///tmp/l:latest') // { name: 'base', kind: 'oci-layout', dir: '/tmp/l', tag: 'latest' }
 * parseBuildContextSpec('src=../src')                     // { name: 'src', kind: 'local', dir: '../src' }
 * ```
 */
export function parseBuildContextSpec(value: string): BuildContextSpec {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new OptionError(`--build-context ${value}: expected NAME=VALUE (docker-image://REF, oci-layout://DIR[:TAG|@DIGEST] or a directory)`);
  const name = value.slice(0, eq);
  const src = value.slice(eq + 1);
  if (src.startsWith('docker-image://')) return { name, kind: 'image', ref: src.slice('docker-image://'.length) };
  if (src.startsWith('oci-layout://')) {
    let rest = src.slice('oci-layout://'.length);
    let digest: string | undefined;
    let tag: string | undefined;
    const at = rest.lastIndexOf('@');
    if (at > 0) {
      digest = rest.slice(at + 1);
      rest = rest.slice(0, at);
    }
    const colon = rest.lastIndexOf(':');
    if (colon > 0 && !rest.slice(colon + 1).includes('/')) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    return { name, kind: 'oci-layout', dir: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src)) {
    throw new OptionError(`--build-context ${name}=${src}: this source kind is not supported yet (docker-image://, oci-layout:// and directories are)`);
  }
  return { name, kind: 'local', dir: src };
}

/** `--secret id=ID[,src=FILE|,env=VAR]` (also `type=file|env`; `source`, `target`?). */
export interface SecretSpec {
  id: string;
  file?: string;
  env?: string;
}

/**
 * Parses one `--secret` value (see {@link SecretSpec}).
 *
 * @example
 * ```ts
 * parseSecretSpec('id=npm,src=/home/u/.npmrc') // { id: 'npm', file: '/home/u/.npmrc' }
 * ```
 */
export function parseSecretSpec(value: string): SecretSpec {
  const pairs = Object.fromEntries(parseCsvPairs(value, '--secret'));
  const id = pairs.id;
  if (!id) throw new OptionError(`--secret ${value}: id= is required`);
  const file = pairs.src ?? pairs.source;
  const env = pairs.env;
  if (pairs.type === 'env' || (env !== undefined && file === undefined)) return { id, env: env ?? file ?? id };
  if (file === undefined) {
    // buildx: with neither src nor env, an env var named like the id wins if set, else a file? Keep it explicit.
    return { id, env: id };
  }
  return { id, file };
}

/** `--ssh default|ID[=SOCKET|KEY...]`. */
export interface SshSpec {
  id: string;
  paths: string[];
}

/**
 * Parses one `--ssh` value (see {@link SshSpec}).
 *
 * @example
 * ```ts
 * parseSshSpec('default') // { id: 'default', paths: [] }
 * ```
 */
export function parseSshSpec(value: string): SshSpec {
  const eq = value.indexOf('=');
  if (eq < 0) return { id: value, paths: [] };
  return { id: value.slice(0, eq), paths: value.slice(eq + 1).split(',').filter(Boolean) };
}

/** An `--add-host` entry: a line `<ip>\t<host>` in every RUN's /etc/hosts. */
export interface AddHostSpec {
  host: string;
  ip: string;
}

/**
 * What `host-gateway` stands for. buildx asks the builder for its gateway to the host; RUN here
 * shares the host's network by default, where the host is its own loopback.
 */
export const HOST_GATEWAY_IP = '127.0.0.1';

/**
 * Parses one `--add-host` value as buildx does: `host=ip` or `host:ip` (the first `=`, else the
 * first `:`), an IPv6 address optionally in brackets, `host-gateway` for the host. The address is
 * written the way Go prints it (IPv6 compressed, lower case), as BuildKit writes /etc/hosts.
 *
 * @example
 * ```ts
 * parseAddHostSpec('db:10.0.0.5') // { host: 'db', ip: '10.0.0.5' }
 * parseAddHostSpec('v6=[2001:DB8:0::33]') // { host: 'v6', ip: '2001:db8::33' }
 * ```
 */
export function parseAddHostSpec(value: string): AddHostSpec {
  let sep = value.indexOf('=');
  if (sep < 0) sep = value.indexOf(':');
  const host = sep < 0 ? '' : value.slice(0, sep);
  let ip = sep < 0 ? '' : value.slice(sep + 1);
  if (!host || !ip) throw new OptionError(`--add-host ${value}: expected HOST:IP or HOST=IP`, { value });
  if (ip === 'host-gateway') return { host, ip: HOST_GATEWAY_IP };
  if (ip.length > 2 && ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const family = isIP(ip);
  if (family === 0) throw new OptionError(`--add-host ${value}: "${ip}" is not an IP address`, { value });
  if (family === 4) return { host, ip };
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  // Go prints an IPv4-mapped address as IPv4.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
    return { host, ip: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
  }
  return { host, ip: canonical };
}

/** An `--ulimit`: a resource limit of every RUN process. */
export interface UlimitSpec {
  /** Docker's name: `nofile`, `nproc`, `core`, … */
  name: string;
  soft: number;
  hard: number;
}

/** The names Docker accepts, each an RLIMIT_<NAME>. */
export const ULIMIT_NAMES: readonly string[] = Object.freeze(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/**
 * Parses one `--ulimit` value as Docker does: `name=soft[:hard]`, hard defaulting to soft and
 * never below it.
 *
 * @example
 * ```ts
 * parseUlimitSpec('nofile=1024:2048') // { name: 'nofile', soft: 1024, hard: 2048 }
 * ```
 */
export function parseUlimitSpec(value: string): UlimitSpec {
  const m = /^([a-z]+)=(\d+)(?::(\d+))?$/.exec(value.trim());
  if (!m) throw new OptionError(`--ulimit ${value}: expected NAME=SOFT[:HARD] with whole numbers (e.g. nofile=1024:2048)`, { value });
  const name = m[1]!;
  if (!ULIMIT_NAMES.includes(name)) throw new OptionError(`--ulimit ${value}: unknown limit "${name}" (one of ${ULIMIT_NAMES.join(', ')})`, { value });
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (!Number.isSafeInteger(soft) || !Number.isSafeInteger(hard)) throw new OptionError(`--ulimit ${value}: the limit is too large`, { value });
  if (soft > hard) throw new OptionError(`--ulimit ${value}: the soft limit ${soft} is above the hard limit ${hard}`, { value });
  return { name, soft, hard };
}

/**
 * Parses a size as Docker's `--shm-size` takes it: a number with an optional unit (`b`, `k`,
 * `m`, `g`, `t`, `p`, each optionally followed by `b` or `ib`, powers of 1024), in bytes.
 *
 * @example
 * ```ts
 * parseByteSize('128m', '--shm-size') // 134217728
 * ```
 */
export function parseByteSize(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(?:i?b)?|b)?$/i.exec(value.trim());
  if (!m) throw new OptionError(`${flag} ${value}: expected a size such as 64m or 1g`, { value });
  const power = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  const bytes = Math.floor(Number(m[1]) * 1024 ** power);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new OptionError(`${flag} ${value}: the size must be above zero`, { value });
  return bytes;
}
