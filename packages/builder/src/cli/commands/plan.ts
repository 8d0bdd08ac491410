/**
 * `build-image plan [build flags] CONTEXT`: the predicted cache hit or miss of every layer step,
 * with reasons, running nothing. Takes `build`'s flags so a build command line becomes a plan by
 * changing one word; flags about outputs are accepted and have no effect on the plan.
 */
import * as path from 'node:path';
import type { BuildOptions } from '../../solve/build.js';
import { parseBuildContextSpec, parseSecretSpec, parseSshSpec } from '../../options/specs.js';
import { formatPlan, planBuild } from '../../plan/index.js';
import { parseCacheExportSpec, parseCacheImportSpec } from '../../remote-cache/index.js';
import { ensureUserNamespace } from '../../rootless/index.js';
import { buildArgsFrom, parseFlags } from '../flags.js';
import { UsageError, type CommandSpec, type ExitCode } from '../io.js';

const FLAGS = [
  { name: 'file', short: 'f', type: 'string' },
  { name: 'build-arg', type: 'list' },
  { name: 'target', type: 'string' },
  { name: 'platform', type: 'string' },
  { name: 'no-cache', type: 'boolean' },
  { name: 'build-context', type: 'list' },
  { name: 'registry-mirror', type: 'list' },
  { name: 'insecure-registry', type: 'list' },
  { name: 'cache-dir', type: 'string' },
  { name: 'secret', type: 'list' },
  { name: 'ssh', type: 'list' },
  { name: 'network', type: 'string' },
  { name: 'allow', type: 'list' },
  { name: 'snapshotter', type: 'string' },
  { name: 'json', type: 'boolean' },
  { name: 'cache-from', type: 'list' },
  { name: 'cache-to', type: 'list' },
  // build flags that only concern outputs and display: accepted, no effect on the plan.
  { name: 'tag', short: 't', type: 'list' },
  { name: 'output', short: 'o', type: 'list' },
  { name: 'push', type: 'boolean' },
  { name: 'label', type: 'list' },
  { name: 'metadata-file', type: 'string' },
  { name: 'iidfile', type: 'string' },
  { name: 'progress', type: 'string' },
  { name: 'quiet', short: 'q', type: 'boolean' },
  { name: 'oci-runtime', type: 'string' },
] as const;

export const planCommand: CommandSpec = {
  name: 'plan',
  summary: 'Predict which steps a build would take from the cache and which it would run, and why (runs nothing)',
  usage: 'build-image plan [build flags] [--json] CONTEXT',
  async run(argv, io): Promise<ExitCode> {
    const args = parseFlags(argv, [...FLAGS]);
    if (args.positionals.length !== 1) throw new UsageError('plan needs exactly one CONTEXT path (e.g. ".")');
    // The cache holds files owned by the build's mapped ids: read it from the same namespace.
    const ns = await ensureUserNamespace();
    if (ns.state === 'reexec') return ns.exitCode as ExitCode;
    const get = (n: string) => args.values.get(n)?.[0];
    const list = (n: string) => args.values.get(n) ?? [];
    const buildArgs = buildArgsFrom(list('build-arg'), io.env);
    const epochText = buildArgs.SOURCE_DATE_EPOCH ?? io.env.SOURCE_DATE_EPOCH;
    if (epochText !== undefined && !/^[0-9]+$/.test(epochText)) throw new UsageError(`invalid SOURCE_DATE_EPOCH "${epochText}": expected seconds since 1970`);
    const mirrors: Record<string, string[]> = {};
    for (const v of list('registry-mirror')) {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new UsageError(`invalid --registry-mirror "${v}": expected HOST=URL`);
      (mirrors[v.slice(0, eq)] ??= []).push(v.slice(eq + 1));
    }
    const secrets: NonNullable<BuildOptions['secrets']> = {};
    for (const s of list('secret').map(parseSecretSpec)) secrets[s.id] = s.file !== undefined ? { file: path.resolve(io.cwd, s.file) } : { env: s.env! };
    const ssh: Record<string, string> = {};
    for (const s of list('ssh').map(parseSshSpec)) ssh[s.id] = s.paths[0] ?? io.env.SSH_AUTH_SOCK ?? '';
    const network = get('network');
    if (network !== undefined && !['host', 'none', 'default'].includes(network)) throw new UsageError(`invalid --network "${network}": expected one of host, none, default`);
    const snapshotter = get('snapshotter');
    if (snapshotter !== undefined && !['auto', 'overlay', 'copy'].includes(snapshotter)) throw new UsageError(`invalid --snapshotter "${snapshotter}": expected one of auto, overlay, copy`);
    // --cache-to is validated (a typo should fail here as it would in the build) and has no other effect.
    list('cache-to').forEach((v) => parseCacheExportSpec(v, io.env as NodeJS.ProcessEnv));
    const file = get('file');
    const target = get('target');
    const platform = get('platform');
    const cacheDir = get('cache-dir');
    const plan = await planBuild({
      context: path.resolve(io.cwd, args.positionals[0]!),
      ...(file !== undefined ? { file: path.resolve(io.cwd, file) } : {}),
      buildArgs,
      ...(target ? { target } : {}),
      ...(platform ? { platform } : {}),
      noCache: args.booleans.has('no-cache'),
      buildContexts: list('build-context').map(parseBuildContextSpec),
      registryMirrors: mirrors,
      insecureRegistries: list('insecure-registry'),
      ...(cacheDir ? { cacheDir: path.resolve(io.cwd, cacheDir) } : {}),
      cacheFrom: list('cache-from').map((v) => parseCacheImportSpec(v, io.env as NodeJS.ProcessEnv)),
      secrets,
      ssh,
      ...(network === 'host' || network === 'none' ? { network } : {}),
      allow: list('allow'),
      ...(epochText !== undefined ? { sourceDateEpoch: Number(epochText) } : {}),
      ...(snapshotter ? { snapshotter: snapshotter as 'auto' | 'overlay' | 'copy' } : {}),
    });
    io.stdout(args.booleans.has('json') ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
    return 0;
  },
};
