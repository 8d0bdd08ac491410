/**
 * Locks of `RUN --mount=type=cache` directories for `sharing=locked` and `sharing=private`.
 *
 * BuildKit's locks live in its daemon, which every build goes through. Here every build is its own
 * process, and builds of one user share the cache dir (and so the cache mounts) by default: two
 * concurrent `apt-get install` RUNs with the documented `--mount=type=cache,target=/var/cache/apt,
 * sharing=locked` would otherwise meet in one directory, and the second apt fails on apt's own
 * lock. So a lock has two layers: a promise chain within this process (stages run in parallel),
 * then an flock(2) on `<dir>.lock` across processes. The kernel drops an flock when its holder
 * dies, so a killed build never leaves a stale lock behind.
 *
 * The flock is held by the host helper (no fork); without it, by a util-linux `flock` process
 * whose stdin is a pipe from this process, so it also ends when this process does.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { helperTryLock, helperUnlock } from '../host-helper/index.js';

/** A held lock. */
export interface CacheDirLock {
  release(): Promise<void>;
}

/** In-process holders by directory: the tail of each directory's queue. */
const queues = new Map<string, Promise<void>>();

/** Exit code `flock -n` is told to use when the lock is taken (EX_TEMPFAIL). */
const BUSY_EXIT = 75;

/**
 * Waits until `dir` is free in this process and across processes, then holds it.
 *
 * @example
 * ```ts
 * const held = await lockCacheDir('/home/u/.cache/build-image/mounts/3f2a…', { signal })
 * try { await runTheStep() } finally { await held.release() }
 * ```
 */
export async function lockCacheDir(dir: string, options: { signal?: AbortSignal } = {}): Promise<CacheDirLock> {
  const local = await localLock(dir);
  try {
    for (let delay = 20; ; delay = Math.min(500, Math.round(delay * 1.5))) {
      options.signal?.throwIfAborted();
      const file = await tryFileLock(`${dir}.lock`);
      if (file) return { release: () => file.release().finally(local) };
      try {
        await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
      } catch (e) {
        // The abort's own reason, as everywhere else in a build, not the timer's AbortError.
        options.signal?.throwIfAborted();
        throw e;
      }
    }
  } catch (e) {
    local();
    throw e;
  }
}

/**
 * Holds `dir` when nobody (in this process or another) holds it; undefined when it is in use.
 * For `sharing=private`, which takes a fresh directory instead of waiting.
 */
export async function tryLockCacheDir(dir: string): Promise<CacheDirLock | undefined> {
  if (queues.has(dir)) return undefined;
  const local = await localLock(dir);
  try {
    const file = await tryFileLock(`${dir}.lock`);
    if (!file) {
      local();
      return undefined;
    }
    return { release: () => file.release().finally(local) };
  } catch (e) {
    local();
    throw e;
  }
}

/** Queues for `dir` within this process; resolves to the release function once it is this caller's turn. */
async function localLock(dir: string): Promise<() => void> {
  const before = queues.get(dir) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = before.then(() => mine);
  queues.set(dir, tail);
  await before;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
    if (queues.get(dir) === tail) queues.delete(dir);
  };
}

/** One attempt at the flock on `file`: held, or undefined when another process has it. */
async function tryFileLock(file: string): Promise<CacheDirLock | undefined> {
  const viaHelper = await helperTryLock(file);
  if (viaHelper === 'busy') return undefined;
  if (viaHelper !== undefined) return { release: () => helperUnlock(viaHelper) };
  return flockProcess(file);
}

/** The same through util-linux `flock`: it prints once it holds the lock and keeps it until its stdin ends. */
function flockProcess(file: string): Promise<CacheDirLock | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--nonblock', '--conflict-exit-code', String(BUSY_EXIT), file, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let held = false;
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.once('data', () => {
      held = true;
      const exited = new Promise<void>((r) => child.once('close', () => r()));
      resolve({
        release: async () => {
          child.stdin.end();
          await exited;
        },
      });
    });
    child.on('error', (e) => reject(new Error(`cannot lock ${file}: flock: ${e.message} (install util-linux)`)));
    child.on('close', (code) => {
      if (held) return;
      if (code === BUSY_EXIT) resolve(undefined);
      else reject(new Error(`cannot lock ${file}: flock exited ${code}: ${stderr.trim()}`));
    });
  });
}
