// Child processes for the comparison harness: timed runs with a hard timeout, peak RSS from GNU
// time, output kept in a log file (never in memory: a build's progress can be megabytes).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';

const GNU_TIME = '/usr/bin/time';

/** A failed command, with the tail of its output so the report can quote the real error. */
export class CommandError extends Error {
  constructor(message, { code, tail, log }) {
    super(message);
    this.name = 'CommandError';
    this.code = code;
    this.tail = tail;
    this.log = log;
  }
}

/** Last `max` characters of a log file (the error is at the end of a build's output). */
export async function tailOf(file, max = 1500) {
  try {
    const text = await readFile(file, 'utf8');
    return text.length > max ? '…' + text.slice(-max) : text;
  } catch {
    return '';
  }
}

/**
 * Runs `cmd args` with output appended to `log`, killing its whole process group after
 * `timeoutMs`. With `rss: true` it runs under GNU time and reports `maxRssKb`: the peak RSS of
 * the largest single process in the tree (getrusage RUSAGE_CHILDREN), i.e. the builder itself.
 * Resolves {ms, maxRssKb}; rejects with a CommandError on a non-zero exit or timeout.
 */
export async function run(cmd, args, { env, cwd, timeoutMs = 600_000, log, rss = false } = {}) {
  const rssFile = rss ? `${log}.rss` : undefined;
  if (rssFile) await rm(rssFile, { force: true });
  const useTime = rss && existsSync(GNU_TIME);
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const out = log ? createWriteStream(log, { flags: 'a' }) : undefined;
  if (out) out.write(`\n$ ${[cmd, ...args].join(' ')}\n`);
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, {
    cwd,
    env: env ?? process.env,
    stdio: ['ignore', out ? 'pipe' : 'ignore', out ? 'pipe' : 'ignore'],
    // Own process group, so a timeout kills runc/containerd-shim children too.
    detached: true,
  });
  if (out) {
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, timeoutMs);
  const code = await new Promise((resolve) => {
    child.once('error', (err) => resolve(err));
    child.once('close', (c, sig) => resolve(c ?? sig));
  });
  clearTimeout(timer);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (out) await new Promise((r) => out.end(r));
  if (code !== 0 || timedOut) {
    const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : code instanceof Error ? code.message : `exit ${code}`;
    throw new CommandError(`${cmd} ${args.slice(0, 3).join(' ')}… ${why}`, {
      code,
      tail: log ? await tailOf(log) : '',
      log,
    });
  }
  let maxRssKb;
  if (useTime) {
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    const kb = Number(text.trim().split('\n').pop());
    if (Number.isFinite(kb) && kb > 0) maxRssKb = kb;
  }
  return { ms, maxRssKb };
}

/** `run` for setup/cleanup commands; with `mayFail: true` a failure resolves false instead of throwing. */
export async function quiet(cmd, args, opts = {}) {
  try {
    await run(cmd, args, { timeoutMs: 300_000, ...opts });
    return true;
  } catch (err) {
    if (opts.mayFail) return false;
    throw err;
  }
}

/** Polls `check` until it resolves truthy or `timeoutMs` passes; an error with `fatal` set ends it at once. */
export async function waitFor(check, timeoutMs, what) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err?.fatal) throw err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** VmHWM and VmRSS of a process in KiB (from /proc/PID/status). */
export async function memoryOf(pid) {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
  return { hwmKb: kb('VmHWM'), rssKb: kb('VmRSS') };
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS: `echo 5 > /proc/PID/clear_refs`
 * (Linux ≥ 4.0, needs ptrace rights over it: root here). Returns false when the kernel refuses.
 */
export async function resetPeak(pid) {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
