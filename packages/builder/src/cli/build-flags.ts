/**
 * `docker buildx build`'s flags and their translation into {@link BuildOptions}, shared by
 * `build-image build` and `build-image plan` (a build command line becomes a plan by changing one
 * word, so both must read the flags the same way).
 */
import * as path from 'node:path';
import type { BuildOptions } from '../solve/build.js';
import { parseAddHostSpec, parseBuildContextSpec, parseByteSize, parseOutputSpec, parseSecretSpec, parseSshSpec, parseUlimitSpec } from '../options/specs.js';
import { parseCacheExportSpec, parseCacheImportSpec } from '../remote-cache/index.js';
import { buildArgsFrom, type FlagDef, type ParsedArgs } from './flags.js';
import { UsageError, type CliIO } from './io.js';

/** Every flag `build` takes. */
export const BUILD_FLAGS: FlagDef[] = [
  { name: 'file', short: 'f', type: 'string' },
  { name: 'tag', short: 't', type: 'list' },
  { name: 'build-arg', type: 'list' },
  { name: 'target', type: 'string' },
  { name: 'platform', type: 'string' },
  { name: 'output', short: 'o', type: 'list' },
  { name: 'push', type: 'boolean' },
  { name: 'load', type: 'boolean' },
  { name: 'no-cache', type: 'boolean' },
  { name: 'build-context', type: 'list' },
  { name: 'registry-mirror', type: 'list' },
  { name: 'insecure-registry', type: 'list' },
  { name: 'cache-dir', type: 'string' },
  { name: 'label', type: 'list' },
  { name: 'metadata-file', type: 'string' },
  { name: 'iidfile', type: 'string' },
  { name: 'progress', type: 'string' },
  { name: 'secret', type: 'list' },
  { name: 'cache-from', type: 'list' },
  { name: 'cache-to', type: 'list' },
  { name: 'ssh', type: 'list' },
  { name: 'network', type: 'string' },
  { name: 'add-host', type: 'list' },
  { name: 'ulimit', type: 'list' },
  { name: 'shm-size', type: 'string' },
  { name: 'allow', type: 'list' },
  { name: 'snapshotter', type: 'string' },
  { name: 'oci-runtime', type: 'string' },
  { name: 'quiet', short: 'q', type: 'boolean' },
];

function keyValues(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid ${flag} "${v}": expected KEY=VALUE`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** A flag value from a fixed set, or a usage error naming the set. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`invalid --${flag} "${value}": expected one of ${allowed.join(', ')}`);
  return value as T;
}

/**
 * The {@link BuildOptions} of a parsed command line (without progress, signal and outputs'
 * side files, which only `build` handles). Paths are resolved against the command's directory.
 *
 * @example
 * const options = buildOptionsFromFlags(parseFlags(argv, BUILD_FLAGS), io)
 */
export function buildOptionsFromFlags(args: ParsedArgs, io: CliIO): BuildOptions {
  if (args.positionals.length !== 1) throw new UsageError('exactly one CONTEXT path is needed (e.g. ".")');
  const get = (n: string) => args.values.get(n)?.[0];
  const list = (n: string) => args.values.get(n) ?? [];
  const env = io.env as NodeJS.ProcessEnv;
  const buildArgs = buildArgsFrom(list('build-arg'), io.env);
  const epochText = buildArgs.SOURCE_DATE_EPOCH ?? io.env.SOURCE_DATE_EPOCH;
  if (epochText !== undefined && !/^[0-9]+$/.test(epochText)) throw new UsageError(`invalid SOURCE_DATE_EPOCH "${epochText}": expected seconds since 1970`);
  const mirrors: Record<string, string[]> = {};
  for (const [host, url] of Object.entries(keyValues(list('registry-mirror'), '--registry-mirror'))) (mirrors[host] ??= []).push(url);
  const secrets: NonNullable<BuildOptions['secrets']> = {};
  for (const s of list('secret').map(parseSecretSpec)) secrets[s.id] = s.file !== undefined ? { file: path.resolve(io.cwd, s.file) } : { env: s.env! };
  const ssh: Record<string, string> = {};
  for (const s of list('ssh').map(parseSshSpec)) {
    const socket = s.paths[0] ?? (s.id === 'default' ? io.env.SSH_AUTH_SOCK : undefined);
    if (!socket) throw new UsageError(`--ssh ${s.id}: no socket given and SSH_AUTH_SOCK is not set`);
    ssh[s.id] = socket;
  }
  if (args.booleans.has('load')) throw new UsageError('--load needs a Docker daemon; use --output type=docker,dest=FILE and `docker load -i FILE`');
  // Destinations are relative to the command's working directory (the library resolves against the process's).
  const outputs = list('output')
    .map(parseOutputSpec)
    .map((o) => ('dest' in o && o.dest !== undefined && o.dest !== '-' ? { ...o, dest: path.resolve(io.cwd, o.dest) } : o));
  const file = get('file');
  const target = get('target');
  const platform = get('platform');
  const cacheDir = get('cache-dir');
  const network = oneOf(get('network'), ['host', 'none', 'default'] as const, 'network');
  const snapshotter = oneOf(get('snapshotter'), ['auto', 'overlay', 'copy'] as const, 'snapshotter');
  const runtime = oneOf(get('oci-runtime'), ['runc', 'crun'] as const, 'oci-runtime');
  const shmSize = get('shm-size');
  return {
    context: path.resolve(io.cwd, args.positionals[0]!),
    ...(file !== undefined ? { file: path.resolve(io.cwd, file) } : {}),
    tags: list('tag'),
    buildArgs,
    ...(target ? { target } : {}),
    ...(platform ? { platform } : {}),
    outputs,
    push: args.booleans.has('push'),
    noCache: args.booleans.has('no-cache'),
    buildContexts: list('build-context').map(parseBuildContextSpec),
    registryMirrors: mirrors,
    insecureRegistries: list('insecure-registry'),
    ...(cacheDir ? { cacheDir: path.resolve(io.cwd, cacheDir) } : {}),
    labels: keyValues(list('label'), '--label'),
    secrets,
    cacheFrom: list('cache-from').map((v) => parseCacheImportSpec(v, env)),
    cacheTo: list('cache-to').map((v) => parseCacheExportSpec(v, env)),
    ssh,
    ...(network && network !== 'default' ? { network } : {}),
    addHosts: list('add-host').map(parseAddHostSpec),
    ulimits: list('ulimit').map(parseUlimitSpec),
    ...(shmSize !== undefined ? { shmSize: parseByteSize(shmSize, '--shm-size') } : {}),
    allow: list('allow'),
    ...(epochText !== undefined ? { sourceDateEpoch: Number(epochText) } : {}),
    ...(snapshotter ? { snapshotter } : {}),
    ...(runtime ? { ociRuntime: runtime } : {}),
  };
}
