/**
 * `RuncExecutor`: runs one RUN under runc (or crun) from a generated bundle. It writes the
 * bundle, spawns `runc --root <state> run --bundle <dir> <id>`, streams output, and on abort
 * kills and deletes the container. Whatever happens, the bundle, the generated /etc files, the
 * secrets and the runtime state are removed, and empty mount stubs are taken out of the rootfs.
 * Nothing is mounted on the host: runc mounts inside the container's own mount namespace.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { chown, lstat, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ExecAbortedError, RuntimeFailedError, RuntimeNotFoundError, RuntimeUnsupportedError } from './errors.js';
import { hostsFileContent, nameservers, resolvConfContent } from './etc-files.js';
import { cleanupPreparedMounts, prepareMounts } from './mounts.js';
import { resolveInRoot } from './root-path.js';
import { buildRuntimeSpec, capabilitiesFromMask, toRootlessSpec } from './spec.js';
import { recordMountStubs } from './stubs.js';
import { ensureStateDir, removeStateDir } from './state-dir.js';
import type { ExecResult, ExecStep, Executor, RuntimeRlimit } from './types.js';
import { resolveUser } from './user.js';
import { mappedIdCount, runningInUserNamespace } from '../rootless/idmap.js';
import { helperSpawn } from '../host-helper/index.js';

/** Options of {@link RuncExecutor}. */
export interface RuncExecutorOptions {
  /** Writable directory for bundles and the runtime's state (`--root`); created if missing. */
  stateDir: string;
  /** `runc` (default) or `crun`. */
  runtime?: 'runc' | 'crun';
  /** Explicit path of the runtime binary; default: looked up in PATH. */
  runtimePath?: string;
  /** Apply {@link toRootlessSpec}; default: detected (running inside a user namespace). */
  rootless?: boolean;
  /** Host resolv.conf to derive the container's from (default `/etc/resolv.conf`). */
  hostResolvConf?: string;
  /** Directory for secret files (default: a private dir on /dev/shm, else under stateDir). */
  secretsRoot?: string;
  /** `--ulimit` values applied to every RUN. */
  rlimits?: RuntimeRlimit[];
  /** `--shm-size`: bytes of every RUN's /dev/shm (default 64 MiB). */
  shmSize?: number;
  /** How many output lines {@link ExecResult.tail} keeps (default 20). */
  tailLines?: number;
}

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(dir, bin);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** Runtime log entries of level error, from `--log-format json`. */
async function runtimeErrors(logFile: string): Promise<string[]> {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string };
      if ((j.level === 'error' || j.level === 'fatal') && j.msg) out.push(j.msg);
    } catch {
      if (/error/i.test(line)) out.push(line.trim());
    }
  }
  return out;
}

const HYBRID_CGROUP = /cgroups? in hybrid mode not supported/i;

/** How old a run dir without a container must be to count as abandoned by a killed build. */
const ABANDONED_AFTER_MS = 60_000;

/** The runtime process, spawned by Node or by the host helper: what of it the executor uses. */
interface RuntimeProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** Keeps the last `max` complete-or-partial lines of a byte stream. */
class Tail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }
  result(): string[] {
    const all = this.partial ? [...this.lines, this.partial] : [...this.lines];
    return all.slice(-this.max);
  }
}

/**
 * Runs RUN steps under runc (default) or crun.
 *
 * @example
 * ```ts
 * const ex = new RuncExecutor({ stateDir: '/var/tmp/bi/exec' });
 * const { exitCode } = await ex.run({ rootfs: snap.mergedDir, args: ['/bin/sh', '-c', 'echo hi'],
 *   env: [], cwd: '/', user: '', onOutput: (s, c) => process.stdout.write(c) });
 * ```
 */
export class RuncExecutor implements Executor {
  private readonly opts: RuncExecutorOptions;
  private readonly runtime: 'runc' | 'crun';
  private readonly rootless: boolean;

  constructor(options: RuncExecutorOptions) {
    this.opts = options;
    this.runtime = options.runtime ?? 'runc';
    this.rootless = options.rootless ?? runningInUserNamespace();
  }

  /** The runtime's `--root` directory (where `runc list` looks). */
  get runtimeRoot(): string {
    return path.join(this.opts.stateDir, this.runtime);
  }

  private binary(): string {
    const p = this.opts.runtimePath ?? which(this.runtime);
    if (!p) throw new RuntimeNotFoundError(this.runtime);
    return p;
  }

  async run(step: ExecStep): Promise<ExecResult> {
    if (step.signal?.aborted) throw new ExecAbortedError(step.args);
    const bin = this.binary();
    const id = `bi-${randomBytes(8).toString('hex')}`;
    const runDir = path.join(this.opts.stateDir, 'runs', id);
    const bundle = path.join(runDir, 'bundle');
    const secretsRoot = this.secretsRoot();
    const mountOpts = { scratchDir: path.join(runDir, 'mounts'), secretsDir: path.join(secretsRoot, `build-image-${id}`), rootless: this.rootless };
    // The bundle's small files are written with synchronous calls: each async call costs a
    // thread-pool round trip (0.1–0.3 ms under load), more than the write itself, ~10 per RUN.
    mkdirSync(bundle, { recursive: true, mode: 0o700 });
    // After the mkdir: a dir someone planted before it is refused before anything is written.
    ensureStateDir(this.opts.stateDir);
    if (!this.swept) {
      this.swept = true;
      this.sweepAbandonedRuns();
    }
    mkdirSync(this.runtimeRoot, { recursive: true, mode: 0o700 });
    let cleanupStubs: (() => Promise<string[]>) | undefined;
    try {
      const user = await resolveUser(step.rootfs, step.user);
      await this.ensureCwd(step.rootfs, step.cwd, user.uid, user.gid);
      const prepared = await prepareMounts(step.mounts ?? [], mountOpts);
      const stubs = await recordMountStubs(step.rootfs, ['/etc/resolv.conf', '/etc/hosts', ...prepared.targets]);
      cleanupStubs = () => stubs.cleanup();
      const network = step.network ?? 'host';
      const hostsPath = path.join(runDir, 'hosts');
      const resolvPath = path.join(runDir, 'resolv.conf');
      writeFileSync(hostsPath, hostsFileContent(undefined, step.extraHosts ?? []), { mode: 0o644 });
      writeFileSync(resolvPath, resolvConfContent(await this.hostResolvConf(network), network), { mode: 0o644 });
      let spec = buildRuntimeSpec({
        rootfs: path.resolve(step.rootfs),
        args: step.args,
        env: step.env,
        cwd: step.cwd,
        user,
        network,
        hostsPath,
        resolvConfPath: resolvPath,
        mounts: prepared.mounts,
        ...(this.opts.rlimits ? { rlimits: this.opts.rlimits } : {}),
        ...(this.opts.shmSize !== undefined ? { shmSize: this.opts.shmSize } : {}),
        ...(step.security === 'insecure' ? { security: 'insecure' as const, currentCapabilities: await currentCapabilities() } : {}),
      });
      if (this.rootless) spec = toRootlessSpec(spec, { singleIdMapping: mappedIdCount() <= 1 });
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
      return await this.spawnRuntime(bin, id, bundle, path.join(runDir, 'runtime.log'), step, cleanupStubs);
    } finally {
      await this.forceDelete(bin, id);
      await cleanupPreparedMounts(mountOpts).catch(() => undefined);
      try {
        rmSync(runDir, { recursive: true, force: true });
      } catch {
        /* best effort, as before */
      }
    }
  }

  /** Whether this executor has looked for runs abandoned by killed builds. */
  private swept = false;

  private secretsRoot(): string {
    return this.opts.secretsRoot ?? (existsSync('/dev/shm') ? '/dev/shm' : path.join(this.opts.stateDir, 'secrets'));
  }

  /**
   * Removes the bundles (and secret files) of RUNs whose build was killed (SIGKILL, a lost
   * machine): they are otherwise removed right after the RUN, and a bundle holds the RUN's
   * environment, `env=` secrets included. A run is abandoned when no runtime knows its container
   * and it is older than a minute; a RUN of a build beside this one has its container from a few
   * ms after its bundle is written until a few ms before the bundle goes.
   */
  private sweepAbandonedRuns(): void {
    const runs = path.join(this.opts.stateDir, 'runs');
    let ids: string[];
    try {
      ids = readdirSync(runs);
    } catch {
      return;
    }
    const cutoff = Date.now() - ABANDONED_AFTER_MS;
    // Nothing is mounted under a run dir on the host, but a removal must never reach through a
    // mount into what it shows: any dir with a mount below it is left alone.
    let mounted: string[] = [];
    try {
      mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    } catch {
      return;
    }
    const secretsRoot = this.secretsRoot();
    for (const id of ids) {
      if (!/^bi-[0-9a-f]{16}$/.test(id)) continue;
      if (['runc', 'crun'].some((rt) => existsSync(path.join(this.opts.stateDir, rt, id)))) continue;
      const dir = path.join(runs, id);
      if (mounted.some((m) => m === dir || m.startsWith(dir + '/'))) continue;
      try {
        if (statSync(dir).mtimeMs > cutoff) continue;
        rmSync(dir, { recursive: true, force: true });
        rmSync(path.join(secretsRoot, `build-image-${id}`), { recursive: true, force: true });
      } catch {
        /* gone meanwhile, or not ours to remove: leave it */
      }
    }
  }

  /**
   * Removes what is left of the state dir once the build's RUNs are done (nothing, unless a
   * build beside this one shares the cache dir and is still running).
   */
  close(): void {
    removeStateDir(this.opts.stateDir, ['runs', this.runtime, 'secrets']);
  }

  private async hostResolvConf(network: 'host' | 'none'): Promise<string> {
    const file = this.opts.hostResolvConf ?? '/etc/resolv.conf';
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return '';
    }
    // systemd-resolved's stub only answers on the host's loopback; outside it use the real upstreams.
    if (network !== 'host' && this.opts.hostResolvConf === undefined) {
      const ns = nameservers(text);
      if (ns.length > 0 && ns.every((n) => n === '127.0.0.53')) {
        try {
          text = await readFile('/run/systemd/resolve/resolv.conf', 'utf8');
        } catch {
          /* keep the stub file; filtering replaces it with public resolvers */
        }
      }
    }
    return text;
  }

  /** Creates a missing working directory, owned by the RUN's user (BuildKit does the same). */
  private async ensureCwd(rootfs: string, cwd: string, uid: number, gid: number): Promise<void> {
    const parts = path.posix.normalize(path.posix.join('/', cwd)).split('/').filter(Boolean);
    let cur = '/';
    for (const part of parts) {
      cur = path.posix.join(cur, part);
      const host = await resolveInRoot(rootfs, cur);
      try {
        const st = await lstat(host);
        if (!st.isDirectory()) return; // runc will report the problem with the real message
      } catch {
        await mkdir(host, { mode: 0o755 });
        await chown(host, uid, gid);
      }
    }
  }

  private spawnRuntime(
    bin: string,
    id: string,
    bundle: string,
    logFile: string,
    step: ExecStep,
    cleanupStubs: () => Promise<string[]>,
  ): Promise<ExecResult> {
    const tail = new Tail(this.opts.tailLines ?? 20);
    const started = performance.now();
    const args = ['--root', this.runtimeRoot, '--log', logFile, '--log-format', 'json', 'run', '--bundle', bundle, id];
    // Through the host helper when it is there: a fork of the ~100 MB Node process costs 4–9 ms.
    const launched = helperSpawn([bin, ...args], bundle);
    return launched.then((viaHelper) => this.watchRuntime(viaHelper ?? spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: bundle }), bin, id, logFile, step, cleanupStubs, tail, started));
  }

  private watchRuntime(
    child: RuntimeProcess,
    bin: string,
    id: string,
    logFile: string,
    step: ExecStep,
    cleanupStubs: () => Promise<string[]>,
    tail: Tail,
    started: number,
  ): Promise<ExecResult> {
    return new Promise<ExecResult>((resolve, reject) => {
      let aborted = false;
      let stderrText = '';
      const onAbort = () => {
        aborted = true;
        void this.killUntilGone(bin, id, child);
      };
      step.signal?.addEventListener('abort', onAbort, { once: true });
      const forward = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
        tail.push(chunk);
        if (name === 'stderr' && stderrText.length < 65536) stderrText += chunk.toString('utf8');
        step.onOutput?.(name, chunk);
        const sink = name === 'stdout' ? step.stdout : step.stderr;
        const stream = name === 'stdout' ? child.stdout : child.stderr;
        if (sink && !sink.write(chunk)) {
          // Backpressure: stop reading until the sink drains.
          stream.pause();
          sink.once('drain', () => stream.resume());
        }
      };
      child.stdout.on('data', forward('stdout'));
      child.stderr.on('data', forward('stderr'));
      child.on('error', (err) => {
        step.signal?.removeEventListener('abort', onAbort);
        reject(err);
      });
      child.on('close', (code, sig) => {
        step.signal?.removeEventListener('abort', onAbort);
        void (async () => {
          const durationMs = performance.now() - started;
          const mountStubs = await cleanupStubs().catch(() => []);
          if (aborted) return reject(new ExecAbortedError(step.args));
          const errors = await runtimeErrors(logFile);
          const all = [...errors, stderrText].join('\n');
          if (HYBRID_CGROUP.test(all)) {
            return reject(
              new RuntimeUnsupportedError(
                `${this.runtime} cannot run on this host: its cgroups are in hybrid mode (cgroup v1 controllers plus a cgroup v2 mount at /sys/fs/cgroup/unified), which ${this.runtime} refuses. Use --oci-runtime runc, or boot the host with unified cgroups (systemd.unified_cgroup_hierarchy=1).`,
                { runtime: this.runtime, runtimeMessage: errors.join('\n') || stderrText.trim() },
              ),
            );
          }
          if (errors.length > 0) {
            return reject(
              new RuntimeFailedError(`${this.runtime} failed to run "${step.args.join(' ')}": ${errors[errors.length - 1]}`, {
                runtime: this.runtime,
                messages: errors,
                exitCode: code,
              }),
            );
          }
          const exitCode = code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 255);
          resolve({ exitCode, tail: tail.result(), mountStubs, durationMs });
        })();
      });
    });
  }

  /** `runc kill` may race with container creation; retry until the runtime process is gone. */
  private async killUntilGone(bin: string, id: string, child: RuntimeProcess): Promise<void> {
    for (let i = 0; i < 200 && child.exitCode === null && child.signalCode === null; i++) {
      await this.exec(bin, ['--root', this.runtimeRoot, 'kill', id, 'KILL']);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  private async forceDelete(bin: string, id: string): Promise<void> {
    if (!existsSync(path.join(this.runtimeRoot, id))) return;
    await this.exec(bin, ['--root', this.runtimeRoot, 'delete', '--force', id]);
  }

  private exec(bin: string, args: string[]): Promise<number> {
    return new Promise((resolve) => {
      const c = spawn(bin, args, { stdio: 'ignore' });
      c.on('error', () => resolve(-1));
      c.on('close', (code) => resolve(code ?? -1));
    });
  }
}

/** The engine's effective capabilities (containerd's `cap.Current()`): what insecure mode can grant. */
async function currentCapabilities(): Promise<string[]> {
  const status = await readFile('/proc/self/status', 'utf8');
  return capabilitiesFromMask(/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0');
}
