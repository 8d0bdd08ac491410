/**
 * RUN: the command line BuildKit would run (shell form through SHELL, heredocs), the process
 * environment, `--mount`s resolved to host paths, and the cache key of all that. Secrets enter the
 * key by id only and never the history.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import type { KeyPart } from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import { chompHeredocContent, parseHeredocWord, type GraphMount, type RunInstruction } from '@build-image/parser';
import type { ExecMount, Executor } from '../executor/index.js';
import type { MutableSnapshot } from '../snapshot/index.js';
import { runCreatedBy, withShell } from './image-config.js';
import { StepFailedError } from './errors.js';
import type { LayerOp, StepContext } from './solver.js';
import type { SourceRoots } from './source-roots.js';
import { lockCacheDir, tryLockCacheDir } from './cache-lock.js';

/** A `--secret` the build was given. */
export type SecretSource = { file: string } | { env: string };

export interface RunStepDeps {
  executor: Executor;
  mounts: SourceRoots;
  secrets: ReadonlyMap<string, SecretSource>;
  /** `--ssh` id → agent socket path. */
  ssh: ReadonlyMap<string, string>;
  /** Directory for persistent `type=cache` mounts. */
  cacheMountsDir: string;
  /** `--allow security.insecure` was given. */
  allowInsecure: boolean;
  /** Default network for RUN (`--network`); host unless told otherwise. */
  network: 'host' | 'none';
  /** `--add-host` lines for /etc/hosts. */
  extraHosts?: ReadonlyArray<{ host: string; ip: string }>;
  /** `--ulimit`s (applied by the executor; here for the key). */
  ulimits?: ReadonlyArray<{ name: string; soft: number; hard: number }>;
  /** `--shm-size` in bytes (applied by the executor; here for the key). */
  shmSize?: number;
}

const execFileP = promisify(execFile);

/** A RUN's command: argv plus, for a lone heredoc with a shebang, the script BuildKit mounts at `/dev/pipes/<name>`. */
export interface RunCommand {
  args: string[];
  inlineFile?: { name: string; data: string };
}

/** Where BuildKit mounts a shebang heredoc's script (read-only, mode 0755). */
const PIPES_DIR = '/dev/pipes';

/**
 * The command of a RUN, as BuildKit's dispatchRun computes it (heredocs included).
 *
 * @example
 * ```ts
 * runCommand(ins, (script) => withShell(config, script)) // { args: ['/bin/sh', '-c', 'make'] } for `RUN make`
 * ```
 */
export function runCommand(ins: RunInstruction, shell: (script: string) => string[]): RunCommand {
  if (ins.command.form === 'exec') return { args: ins.command.args };
  let script = ins.command.script;
  if (ins.heredocs.length > 0) {
    const only = parseHeredocWord(script.trim());
    const first = ins.heredocs[0]!;
    if (only && ins.heredocs.length === 1) {
      const data = first.chomp ? chompHeredocContent(first.content) : first.content;
      if (data.startsWith('#!')) {
        // A script with its own interpreter: BuildKit writes it to a file and runs that file
        // through the shell, so the kernel honours the shebang (`#!/usr/bin/env python3`).
        return { args: shell(path.posix.join(PIPES_DIR, first.name)), inlineFile: { name: first.name, data } };
      }
      // `RUN <<EOF` alone: the body is the script (BuildKit's "fake heredoc").
      script = data;
    } else {
      script = [script, ...ins.heredocs.map((h) => h.content + h.name)].join('\n');
    }
  }
  return { args: shell(script) };
}

/**
 * The argv of a RUN, as BuildKit's dispatchRun computes it (heredocs included).
 *
 * @example
 * ```ts
 * runArgs(ins, (script) => ['/bin/sh', '-c', script]) // ['/bin/sh', '-c', 'make'] for `RUN make`
 * ```
 */
export function runArgs(ins: RunInstruction, shell: (script: string) => string[]): string[] {
  return runCommand(ins, shell).args;
}

/**
 * The RUN step module: a {@link LayerOpFactory} that computes a RUN's key parts and, on a miss, runs it under the executor.
 *
 * @example
 * ```ts
 * const solver = new Solver({ ...options, layerOps: { RUN: runStep({ executor, mounts: roots, secrets, ssh, cacheMountsDir, allowInsecure: false, network: 'host' }) } })
 * ```
 */
export function runStep(deps: RunStepDeps) {
  return async (ctx: StepContext): Promise<LayerOp> => {
    const { step, state } = ctx;
    const ins = step.instruction as RunInstruction;
    const { args, inlineFile } = runCommand(ins, (script) => withShell(state.config, script));
    const env = (step.runEnv ?? []).map(([k, v]) => `${k}=${v}`);
    const proxyEnv = (step.proxyEnv ?? []).map(([k, v]) => `${k}=${v}`);
    const user = state.config.config?.User ?? '';
    const cwd = state.config.config?.WorkingDir || '/';
    if (ins.security === 'insecure' && !deps.allowInsecure) {
      throw new BuildError('E_ENTITLEMENT', 'RUN --security=insecure needs the security.insecure entitlement: pass --allow security.insecure', { location: step.location });
    }
    const network = ins.network === 'none' ? 'none' : ins.network === 'host' ? 'host' : deps.network;
    const extraHosts = deps.extraHosts ?? [];
    const mounts = step.mounts ?? [];
    const mountKeys = await Promise.all(mounts.map((m) => mountKeyPart(ctx, deps, m)));

    const argNames = new Set(step.args.map(([name]) => name));
    const imageEnv = new Set((state.config.config?.Env ?? []).map((e) => e.split('=', 1)[0]!));
    const parts: KeyPart[] = [
      {
        type: 'op',
        value: JSON.stringify({
          kind: 'RUN',
          args,
          ...(inlineFile ? { inlineFile } : {}),
          user,
          cwd,
          network,
          security: ins.security,
          mounts: mountKeys,
          // As in BuildKit's ExecOp, where these are part of the op; absent ones leave older keys as they were.
          ...(extraHosts.length ? { extraHosts } : {}),
          ...(deps.ulimits?.length ? { ulimits: deps.ulimits } : {}),
          ...(deps.shmSize !== undefined ? { shmSize: deps.shmSize } : {}),
        }),
      },
      // The process environment, with the ARG-only names keyed as `arg` so a miss says "ARG X changed".
      ...(step.runEnv ?? []).map(([name, value]) => ({ type: argNames.has(name) && !imageEnv.has(name) ? 'arg' : 'env', name, value }) as KeyPart),
      ...mounts.filter((m) => m.type === 'secret').map((m) => ({ type: 'secret-id', value: secretId(m) }) as KeyPart),
    ];
    const stageArgs = step.args.map(([name, value]) => ({ name, value }));

    return {
      parts,
      // BuildKit's runCommandString reads ARG values from the run state's env, where an ARG
      // declared after an ENV of the same name overrides it (the image config keeps the ENV).
      createdBy: runCreatedBy(args, stageArgs, env),
      buildkitSuffix: true,
      run: async (snapshot: MutableSnapshot) => {
        const cleanup: Array<() => Promise<void>> = [];
        const unlock: Array<() => Promise<void>> = [];
        try {
          const execMounts: ExecMount[] = [];
          const secretEnv: string[] = [];
          for (const m of mounts) {
            const resolved = await resolveMount(ctx, deps, m, cleanup, unlock, secretEnv);
            if (resolved) execMounts.push(resolved);
          }
          if (inlineFile) execMounts.push(await inlineFileMount(inlineFile, cleanup));
          // The executor creates a missing working directory owned by the RUN's user, as
          // BuildKit's executor does (MkdirAllAndChown); creating it here first would leave it root's.
          const result = await deps.executor.run({
            rootfs: snapshot.mergedDir,
            args,
            env: [...env, ...proxyEnv, ...secretEnv],
            cwd,
            user,
            network,
            ...(extraHosts.length ? { extraHosts: [...extraHosts] } : {}),
            ...(ins.security === 'insecure' ? { security: 'insecure' as const } : {}),
            mounts: execMounts,
            onOutput: (stream, chunk) => ctx.solver.options.emit({ v: 1, type: 'step-output', time: ctx.solver.now(), step: ctx.ref, stream, text: chunk.toString('utf8') }),
            signal: ctx.solver.signal,
          });
          if (result.exitCode !== 0) {
            const shown = args.join(' ');
            throw new StepFailedError(
              'E_RUN_FAILED',
              `process "${shown}" did not complete successfully: exit code: ${result.exitCode}${result.tail.length ? '\n' + result.tail.map((l) => '  ' + l).join('\n') : ''}`,
              step.location,
              ctx.solver.options.dockerfileText,
              { exitCode: result.exitCode, tail: result.tail },
            );
          }
          // The /proc, /dev and /sys mount points runc had to create stay in the layer, as in
          // BuildKit (moby/buildkit#3455, #6686: `RUN true` on busybox adds proc/ and sys/).
          return {};
        } finally {
          for (const u of unlock) await u().catch(() => undefined);
          for (const c of cleanup.reverse()) await c().catch(() => undefined);
        }
      },
    };
  };
}

/** A read-only `/dev/pipes` holding a shebang heredoc's script (mode 0755), removed after the run. */
async function inlineFileMount(file: { name: string; data: string }, cleanup: Array<() => Promise<void>>): Promise<ExecMount> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'build-image-pipes-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  // mkdtemp makes it 0700; the mount root must be traversable by a non-root USER.
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, file.name), file.data, { mode: 0o755 });
  await chmod(path.join(dir, file.name), 0o755);
  return { type: 'bind', source: dir, target: PIPES_DIR, readonly: true };
}

/** What of a mount changes the step's result: type, target, options, and its source's identity. */
async function mountKeyPart(ctx: StepContext, deps: RunStepDeps, m: GraphMount): Promise<Record<string, unknown>> {
  const base = { type: m.type, target: m.target, readOnly: m.readOnly, source: m.source, mode: m.mode, uid: m.uid, gid: m.gid };
  switch (m.type) {
    case 'bind':
      return { ...base, from: await deps.mounts.identity(ctx, m.sourceRef, m.source) };
    case 'cache':
      // A cache mount's content is not an input (BuildKit: it never invalidates); its id and options are.
      return { ...base, id: cacheId(m), sharing: m.sharing || 'shared', from: m.from ? await deps.mounts.identity(ctx, m.sourceRef, m.source) : null };
    case 'tmpfs':
      return { type: m.type, target: m.target, size: m.sizeLimit };
    case 'secret':
      return { type: m.type, id: m.id, target: m.target, env: m.env ?? null, required: m.required };
    case 'ssh':
      return { type: m.type, id: m.id || 'default', target: m.target };
  }
}

/**
 * A cache mount's id: `id=` or, by default, the cleaned target (BuildKit).
 *
 * @example
 * ```ts
 * cacheId({ id: '', target: '/root/.npm' }) // '/root/.npm'
 * cacheId({ id: 'npm', target: '/root/.npm' }) // 'npm'
 * ```
 */
export function cacheId(m: Pick<GraphMount, 'id' | 'target'>): string {
  // Go's path.Clean: no trailing slash, so `/root/.npm/` and `/root/.npm` share a cache.
  return m.id || path.posix.normalize(m.target).replace(/(.)\/+$/, '$1');
}

/** A secret mount's id: `id=` or, by default, the target's base name (BuildKit). */
function secretId(m: Pick<GraphMount, 'id' | 'target'>): string {
  return m.id || path.posix.basename(m.target);
}

/**
 * Where a cache mount's contents live on the host, under the cache dir's `mounts/`.
 *
 * @example
 * ```ts
 * cacheMountHostDir('/home/u/.cache/build-image/mounts', 'npm') // '/home/u/.cache/build-image/mounts/<sha256 of "npm">'
 * ```
 */
export function cacheMountHostDir(cacheMountsDir: string, id: string): string {
  return path.join(cacheMountsDir, createHash('sha256').update(id).digest('hex'));
}

async function resolveMount(
  ctx: StepContext,
  deps: RunStepDeps,
  m: GraphMount,
  cleanup: Array<() => Promise<void>>,
  unlock: Array<() => Promise<void>>,
  secretEnv: string[],
): Promise<ExecMount | undefined> {
  switch (m.type) {
    case 'bind': {
      const source = await deps.mounts.materialize(ctx, m.sourceRef, m.source, cleanup);
      return { type: 'bind', source, target: m.target, readonly: m.readOnly };
    }
    case 'cache': {
      const id = cacheId(m);
      const sharing = m.sharing || 'shared';
      await mkdir(deps.cacheMountsDir, { recursive: true });
      let hostDir = cacheMountHostDir(deps.cacheMountsDir, id);
      // Locks hold across the build processes sharing the cache dir (see cache-lock.ts).
      if (sharing === 'locked') {
        const held = await lockCacheDir(hostDir, { signal: ctx.solver.signal });
        unlock.push(() => held.release());
      } else if (sharing === 'private') {
        const held = await tryLockCacheDir(hostDir);
        if (held) unlock.push(() => held.release());
        else {
          // In use here or by another build: this step gets a directory of its own, as BuildKit's
          // private sharing makes a new mount when there are several writers.
          hostDir = await mkdtemp(path.join(deps.cacheMountsDir, 'private-'));
          cleanup.push(() => rm(hostDir, { recursive: true, force: true }));
        }
      }
      // `from=`: a cache used for the first time starts as a copy of that source (the stage,
      // context or image at `source`), as BuildKit bases the cache mount on it.
      if (m.from) await seedCacheDir(hostDir, await deps.mounts.materialize(ctx, m.sourceRef, m.source, cleanup));
      return { type: 'cache', hostDir, target: m.target, readonly: m.readOnly, ...(m.uid !== undefined ? { uid: m.uid } : {}), ...(m.gid !== undefined ? { gid: m.gid } : {}), ...(m.mode !== undefined ? { mode: m.mode } : {}) };
    }
    case 'tmpfs':
      return { type: 'tmpfs', target: m.target, ...(m.sizeLimit ? { size: m.sizeLimit } : {}) };
    case 'secret': {
      const id = secretId(m);
      const src = deps.secrets.get(id);
      const value = src ? ('file' in src ? await readFile(src.file).catch(() => undefined) : process.env[src.env]) : undefined;
      if (value === undefined) {
        if (m.required) throw new BuildError('E_SECRET_MISSING', `secret ${id} not found: pass it with --secret id=${id},src=FILE or env=VAR`, { location: ctx.step.location, data: { id } });
        return undefined;
      }
      if (m.env) {
        secretEnv.push(`${m.env}=${value.toString()}`);
        if (!m.target) return undefined;
      }
      return { type: 'secret', target: m.target || `/run/secrets/${id}`, content: typeof value === 'string' ? value : new Uint8Array(value), ...(m.uid !== undefined ? { uid: m.uid } : {}), ...(m.gid !== undefined ? { gid: m.gid } : {}), ...(m.mode !== undefined ? { mode: m.mode } : {}) };
    }
    case 'ssh': {
      const id = m.id || 'default';
      const socket = deps.ssh.get(id) ?? (id === 'default' ? process.env.SSH_AUTH_SOCK : undefined);
      if (!socket) {
        if (m.required) throw new BuildError('E_SSH_MISSING', `no SSH agent for id ${id}: pass --ssh ${id}=SOCKET or set SSH_AUTH_SOCK`, { location: ctx.step.location, data: { id } });
        return undefined;
      }
      const target = m.target || '/run/buildkit/ssh_agent.0';
      secretEnv.push(`SSH_AUTH_SOCK=${target}`);
      return { type: 'ssh', socketPath: socket, target };
    }
  }
}

/** Fills a cache dir that does not exist yet with a copy of `source` (owners, modes and links kept). */
async function seedCacheDir(hostDir: string, source: string): Promise<void> {
  const exists = () => stat(hostDir).then(() => true, () => false);
  if (await exists()) return;
  const tmp = `${hostDir}.seed-${process.pid}-${Date.now()}`;
  try {
    await execFileP('cp', ['-a', '--', source, tmp]);
    await rename(tmp, hostDir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    // Another build seeded it first: theirs is as good.
    if (!(await exists())) throw e;
  }
}
