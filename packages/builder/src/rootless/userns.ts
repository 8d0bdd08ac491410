/**
 * One user namespace for the whole build. A non-root user's engine re-executes itself under
 * `unshare --map-root-user --map-auto --mount --propagation private`, so that inside it uid 0
 * maps to the user and uids 1..65536 to the user's subordinate range (newuidmap/newgidmap).
 * Layer extraction, overlay mounts (with `userxattr`), runc and clean-up then all see the same
 * mapped ids; outside the namespace files owned by the subordinate ids could not even be read.
 */
import { constants as osConstants } from 'node:os';
import { spawn } from 'node:child_process';
import { BuildError } from '@build-image/errors';
import { runningInUserNamespace } from './idmap.js';

/** Environment marker set on the re-executed process. */
export const USERNS_ENV_MARKER = 'BUILD_IMAGE_IN_USERNS';

/** The user namespace could not be created. `data.stderr` has unshare's message. Code `E_USERNS_UNAVAILABLE`. */
export class UserNamespaceError extends BuildError {
  override readonly name = 'UserNamespaceError';
  constructor(message: string, data: Record<string, unknown>) {
    super('E_USERNS_UNAVAILABLE', message, { data });
  }
}

/** Arguments of `unshare` that create the build's namespace. */
export const UNSHARE_ARGS: readonly string[] = Object.freeze(['--map-root-user', '--map-auto', '--mount', '--propagation', 'private']);

/** Explains unshare's failure with the command that fixes it (executor-facts.md, preflight table). */
export function explainUnshareFailure(stderr: string, user: string): string {
  if (/no line matching user/i.test(stderr) || /not allowed/i.test(stderr))
    return `User ${user} has no range in /etc/subuid and /etc/subgid (need ≥ 65536): sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}`;
  if (/newuidmap|newgidmap/.test(stderr) && /No such file|not found/i.test(stderr)) return 'Install the uidmap package: sudo apt-get install -y uidmap';
  if (/Operation not permitted|Permission denied|No space left/i.test(stderr))
    return 'Rootless build needs unprivileged user namespaces. On Ubuntu ≥ 23.10 / GitHub ubuntu-24.04 run `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or run as root.';
  return 'Creating the user namespace failed; run `build-image doctor` for a full check.';
}

/** Options of {@link runInUserNamespace}. */
export interface RunInUserNamespaceOptions {
  /** Extra node flags (default: this process's `execArgv`). */
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Default `inherit`: the child's stdio is this process's. */
  stdio?: 'inherit' | 'pipe';
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

/**
 * Runs `node <entryModule> ...args` inside a new user + mount namespace and resolves with its
 * exit code. Rejects with {@link UserNamespaceError} when unshare itself fails.
 *
 * @example
 * ```ts
 * const code = await runInUserNamespace(new URL('./worker.js', import.meta.url).pathname, ['--job', '1']);
 * ```
 */
export function runInUserNamespace(entryModule: string, args: readonly string[], options: RunInUserNamespaceOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const stdio = options.stdio ?? 'inherit';
    const child = spawn('unshare', [...UNSHARE_ARGS, process.execPath, ...(options.execArgv ?? process.execArgv), entryModule, ...args], {
      stdio: ['inherit', stdio === 'inherit' ? 'inherit' : 'pipe', 'pipe'],
      env: { ...(options.env ?? process.env), [USERNS_ENV_MARKER]: '1' },
      // Its own process group: a terminal's Ctrl-C reaches this process only, which forwards it
      // once (two SIGINTs would skip the worker's clean-up).
      detached: true,
    });
    // unshare execs the worker in place, so the child pid is the worker: pass stop signals on,
    // so that `kill <pid>` (CI cancelling a job) stops the build and cleans up its containers
    // and mounts instead of orphaning it.
    const forward = (sig: NodeJS.Signals) => () => void child.kill(sig);
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const);
    for (const [sig, h] of handlers) process.on(sig, h);
    const unforward = () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => options.onOutput?.('stdout', c));
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < 65536) stderr += c.toString();
      if (stdio === 'inherit' && !options.onOutput) process.stderr.write(c);
      options.onOutput?.('stderr', c);
    });
    child.on('error', (e) => {
      unforward();
      reject(new UserNamespaceError(`Cannot run unshare: ${e.message}. Install util-linux and uidmap.`, { cause: String(e) }));
    });
    child.on('close', (code, signal) => {
      unforward();
      // unshare reports its own failures as "unshare: ..." before exec'ing node.
      const own = stderr.split('\n').find((l) => /^unshare: /.test(l));
      if (own && code !== 0) {
        const user = process.env.USER ?? process.env.LOGNAME ?? String(process.getuid?.());
        reject(new UserNamespaceError(`${own.trim()}. ${explainUnshareFailure(own, user)}`, { stderr: own }));
        return;
      }
      // Like a shell: 128 + the signal's number when the worker was killed by one.
      resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 9) : 0));
    });
  });
}

/**
 * Where the engine should run: `host` for root (same code path, no user namespace), `inside`
 * when this process already is the namespaced worker, or `reexec` after having re-executed
 * the current entry point inside a namespace; the caller should then exit with `exitCode`.
 */
export type UserNamespaceState = { state: 'host' } | { state: 'inside' } | { state: 'reexec'; exitCode: number };

/**
 * Makes sure the rest of the process runs with a usable id mapping: root stays as it is; a
 * non-root user re-executes `process.argv[1]` inside a user namespace (stdio and exit code
 * pass through).
 *
 * @example
 * ```ts
 * const ns = await ensureUserNamespace();
 * if (ns.state === 'reexec') process.exit(ns.exitCode);
 * // ... build
 * ```
 */
export async function ensureUserNamespace(): Promise<UserNamespaceState> {
  if (process.env[USERNS_ENV_MARKER] === '1' && runningInUserNamespace()) return { state: 'inside' };
  if (process.getuid?.() === 0) return { state: 'host' };
  const entry = process.argv[1];
  if (!entry) throw new UserNamespaceError('Cannot re-execute: no entry module in process.argv[1].', {});
  const exitCode = await runInUserNamespace(entry, process.argv.slice(2));
  return { state: 'reexec', exitCode };
}
