/** `build-image build`: `docker buildx build` flags over the library's {@link build}. */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { build, buildMetadata, type BuildOptions } from '../../solve/build.js';
import { parseBuildContextSpec, parseOutputSpec, parseSecretSpec, parseSshSpec } from '../../options/specs.js';
import { parseCacheExportSpec, parseCacheImportSpec } from '../../remote-cache/index.js';
import { jsonRenderer, plainRenderer } from '../../progress/plain.js';
import { ttyRenderer, type TtyRenderer } from '../../progress/tty.js';
import type { ProgressListener } from '../../progress/events.js';
import { ensureUserNamespace } from '../../rootless/index.js';
import { buildArgsFrom, parseFlags } from '../flags.js';
import { UsageError, type CommandSpec, type ExitCode } from '../io.js';

/** Set by a build whose stderr is a terminal (`COLUMNSxROWS`) for its re-executed rootless child. */
const TTY_ENV = 'BUILD_IMAGE_TTY';

const FLAGS = [
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
  { name: 'allow', type: 'list' },
  { name: 'snapshotter', type: 'string' },
  { name: 'oci-runtime', type: 'string' },
  { name: 'quiet', short: 'q', type: 'boolean' },
] as const;

function keyValues(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid ${flag} "${v}": expected KEY=VALUE`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`invalid --${flag} "${value}": expected one of ${allowed.join(', ')}`);
  return value as T;
}

export const buildCommand: CommandSpec = {
  name: 'build',
  summary: 'Build an image from a Dockerfile (flags as in docker buildx build)',
  usage:
    'build-image [build] [-f FILE] [-t REF]... [--build-arg K=V]... [--target T] [--platform P] [--output SPEC]... [--push] [--no-cache] ' +
    '[--build-context NAME=SRC]... [--registry-mirror HOST=URL]... [--insecure-registry HOST]... [--cache-dir DIR] [--label K=V]... ' +
    '[--secret id=ID,src=FILE|env=VAR]... [--cache-from SPEC]... [--cache-to SPEC]... [--ssh ID[=SOCKET]]... [--network host|none] [--allow security.insecure] ' +
    '[--metadata-file F] [--iidfile F] [--progress auto|tty|plain|json|quiet] [--snapshotter auto|overlay|copy] [--oci-runtime runc|crun] CONTEXT',
  async run(argv, io): Promise<ExitCode> {
    const args = parseFlags(argv, [...FLAGS]);
    if (args.positionals.length !== 1) throw new UsageError('build needs exactly one CONTEXT path (e.g. ".")');
    // A non-root build runs inside one user namespace for the whole build (re-executing this CLI).
    // A non-root build re-executes itself with stderr piped through this process, so the child
    // cannot see the terminal: hand it the terminal's size (and so the fact that there is one).
    if (process.stderr.isTTY && !process.env[TTY_ENV]) process.env[TTY_ENV] = `${process.stderr.columns || 80}x${process.stderr.rows || 24}`;
    const ns = await ensureUserNamespace();
    if (ns.state === 'reexec') return ns.exitCode as ExitCode;

    const get = (n: string) => args.values.get(n)?.[0];
    const list = (n: string) => args.values.get(n) ?? [];
    const context = path.resolve(io.cwd, args.positionals[0]!);
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
    const progressMode = oneOf(get('progress') ?? 'auto', ['auto', 'plain', 'tty', 'json', 'quiet'] as const, 'progress');
    // auto: live TTY view when stderr is a terminal (as buildx decides), plain lines otherwise (CI logs).
    const term = /^(\d+)x(\d+)$/.exec(io.env[TTY_ENV] ?? '');
    const onTerminal = process.stderr.isTTY === true || term !== null;
    const tty = progressMode === 'tty' || (progressMode === 'auto' && onTerminal && io.env.TERM !== 'dumb');
    const render: ProgressListener | TtyRenderer | undefined =
      args.booleans.has('quiet') || progressMode === 'quiet'
        ? undefined
        : progressMode === 'json'
          ? jsonRenderer(io.stderr)
          : tty
            ? ttyRenderer({ write: io.stderr, columns: process.stderr.columns || Number(term?.[1] ?? 80), rows: process.stderr.rows || Number(term?.[2] ?? 24) }, { color: !io.env.NO_COLOR })
            : plainRenderer(io.stderr);
    const tags = list('tag');
    // Destinations are relative to the CLI's working directory (the library resolves against the process's).
    const outputs = list('output')
      .map(parseOutputSpec)
      .map((o) => ('dest' in o && o.dest !== undefined && o.dest !== '-' ? { ...o, dest: path.resolve(io.cwd, o.dest) } : o));
    if (args.booleans.has('load')) throw new UsageError('--load needs a Docker daemon; use --output type=docker,dest=FILE and `docker load -i FILE`');
    const file = get('file');
    const target = get('target');
    const platform = get('platform');
    const cacheDir = get('cache-dir');
    const network = oneOf(get('network'), ['host', 'none', 'default'] as const, 'network');
    const snapshotter = oneOf(get('snapshotter'), ['auto', 'overlay', 'copy'] as const, 'snapshotter');
    const runtime = oneOf(get('oci-runtime'), ['runc', 'crun'] as const, 'oci-runtime');

    const abort = new AbortController();
    const onSignal = () => abort.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const result = await build({
        context,
        ...(file !== undefined ? { file: path.resolve(io.cwd, file) } : {}),
        tags,
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
        cacheFrom: list('cache-from').map((v) => parseCacheImportSpec(v, io.env as NodeJS.ProcessEnv)),
        cacheTo: list('cache-to').map((v) => parseCacheExportSpec(v, io.env as NodeJS.ProcessEnv)),
        ssh,
        ...(network && network !== 'default' ? { network } : {}),
        allow: list('allow'),
        ...(epochText !== undefined ? { sourceDateEpoch: Number(epochText) } : {}),
        ...(snapshotter ? { snapshotter } : {}),
        ...(runtime ? { ociRuntime: runtime } : {}),
        ...(render ? { onProgress: render } : {}),
        signal: abort.signal,
      });
      const metadataFile = get('metadata-file');
      if (metadataFile) await writeFile(path.resolve(io.cwd, metadataFile), JSON.stringify(buildMetadata(result, tags), null, 2) + '\n');
      const iidfile = get('iidfile');
      if (iidfile) await writeFile(path.resolve(io.cwd, iidfile), result.configDigest);
      if (!outputs.length && !args.booleans.has('push') && render) {
        const message = 'No output specified: the image is only in the build cache. Use --output or --push.';
        // --progress=json is a stream of events: the warning is one too, not a bare line.
        io.stderr(progressMode === 'json' ? `${JSON.stringify({ v: 1, type: 'log', time: Date.now(), level: 'warn', message })}\n` : `WARNING: ${message}\n`);
      }
      io.stdout(`${result.digest}\n`);
      return 0;
    } finally {
      (render as Partial<TtyRenderer> | undefined)?.close?.();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
