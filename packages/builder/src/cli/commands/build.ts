/** `build-image build`: `docker buildx build` flags over the library's {@link build}. */
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { build, buildMetadata } from '../../solve/build.js';
import { jsonRenderer, plainRenderer } from '../../progress/plain.js';
import { ttyRenderer, type TtyRenderer } from '../../progress/tty.js';
import type { ProgressListener } from '../../progress/events.js';
import { ensureUserNamespace } from '../../rootless/index.js';
import { BUILD_FLAGS, buildOptionsFromFlags, oneOf } from '../build-flags.js';
import { parseFlags } from '../flags.js';
import { UsageError, type CommandSpec, type ExitCode } from '../io.js';

/** Set by a build whose stderr is a terminal (`COLUMNSxROWS`) for its re-executed rootless child. */
const TTY_ENV = 'BUILD_IMAGE_TTY';

export const buildCommand: CommandSpec = {
  name: 'build',
  summary: 'Build an image from a Dockerfile (flags as in docker buildx build)',
  usage:
    'build-image [build] [-f FILE] [-t REF]... [--build-arg K=V]... [--target T] [--platform P] [--output SPEC]... [--push] [--no-cache] ' +
    '[--build-context NAME=SRC]... [--registry-mirror HOST=URL]... [--insecure-registry HOST]... [--cache-dir DIR] [--label K=V]... ' +
    '[--secret id=ID,src=FILE|env=VAR]... [--cache-from SPEC]... [--cache-to SPEC]... [--ssh ID[=SOCKET]]... [--network host|none] [--add-host HOST:IP]... [--ulimit NAME=SOFT[:HARD]]... [--shm-size SIZE] [--allow security.insecure] ' +
    '[--metadata-file F] [--iidfile F] [--progress auto|tty|plain|json|quiet] [--snapshotter auto|overlay|copy] [--oci-runtime runc|crun] CONTEXT',
  async run(argv, io): Promise<ExitCode> {
    const args = parseFlags(argv, BUILD_FLAGS);
    if (args.positionals.length !== 1) throw new UsageError('build needs exactly one CONTEXT path (e.g. ".")');
    // A non-root build runs inside one user namespace for the whole build (re-executing this CLI).
    // A non-root build re-executes itself with stderr piped through this process, so the child
    // cannot see the terminal: hand it the terminal's size (and so the fact that there is one).
    if (process.stderr.isTTY && !process.env[TTY_ENV]) process.env[TTY_ENV] = `${process.stderr.columns || 80}x${process.stderr.rows || 24}`;
    const ns = await ensureUserNamespace();
    if (ns.state === 'reexec') return ns.exitCode as ExitCode;

    const get = (n: string) => args.values.get(n)?.[0];
    const options = buildOptionsFromFlags(args, io);
    const tags = options.tags ?? [];
    const outputs = options.outputs ?? [];
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

    const abort = new AbortController();
    const onSignal = () => abort.abort(new Error('interrupted'));
    // SIGHUP: the terminal went away, which ends a `docker build` (and so the daemon's build) too.
    const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const sig of stopSignals) process.once(sig, onSignal);
    try {
      const result = await build({ ...options, ...(render ? { onProgress: render } : {}), signal: abort.signal });
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
      for (const sig of stopSignals) process.off(sig, onSignal);
    }
  },
};
