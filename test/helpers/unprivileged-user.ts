/**
 * An unprivileged user for rootless tests. When the suite runs as root (CI does), this creates
 * (idempotently) `bi-builder` with a home dir and a 65536-id subuid/subgid range that does not
 * overlap existing ranges, and runs commands as that user. As a non-root user the tests run
 * as that user directly.
 *
 * @example
 * ```ts
 * const u = ensureUnprivilegedUser();
 * const r = await runAsUser('node', ['worker.mjs'], { cwd: dir });
 * ```
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const TEST_USER = 'bi-builder';
const RANGE = 65536;

export interface UnprivilegedUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  subuid: { start: number; count: number };
  subgid: { start: number; count: number };
}

function ranges(file: string): Array<{ user: string; start: number; count: number }> {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3)
    .map(([user, start, count]) => ({ user: user as string, start: Number(start), count: Number(count) }));
}

function userEntry(name: string): { uid: number; gid: number; home: string } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' };
  }
  return undefined;
}

/** A free start for a 65536 range: above every existing range in either file, at least 200000. */
function freeStart(): number {
  let start = 200000;
  for (const r of [...ranges('/etc/subuid'), ...ranges('/etc/subgid')]) start = Math.max(start, r.start + r.count);
  return start;
}

/** Creates or finds `bi-builder` (root only) and returns its ids and ranges; when not root, describes the current user. */
export function ensureUnprivilegedUser(): UnprivilegedUser {
  if (process.getuid?.() !== 0) {
    const name = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
    const e = userEntry(name);
    const su = ranges('/etc/subuid').find((r) => r.user === name);
    const sg = ranges('/etc/subgid').find((r) => r.user === name);
    return {
      name,
      uid: process.getuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
      home: e?.home ?? '',
      subuid: { start: su?.start ?? 0, count: su?.count ?? 0 },
      subgid: { start: sg?.start ?? 0, count: sg?.count ?? 0 },
    };
  }
  if (!userEntry(TEST_USER)) execFileSync('useradd', ['-m', '-s', '/bin/sh', TEST_USER]);
  const has = (file: string) => ranges(file).find((r) => r.user === TEST_USER && r.count >= RANGE);
  if (!has('/etc/subuid') || !has('/etc/subgid')) {
    const start = freeStart();
    const spec = `${start}-${start + RANGE - 1}`;
    const args: string[] = [];
    if (!has('/etc/subuid')) args.push('--add-subuids', spec);
    if (!has('/etc/subgid')) args.push('--add-subgids', spec);
    execFileSync('usermod', [...args, TEST_USER]);
  }
  const e = userEntry(TEST_USER) as { uid: number; gid: number; home: string };
  const su = has('/etc/subuid') as { start: number; count: number };
  const sg = has('/etc/subgid') as { start: number; count: number };
  return { name: TEST_USER, ...e, subuid: { start: su.start, count: su.count }, subgid: { start: sg.start, count: sg.count } };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command as the unprivileged user (`setpriv --reuid --regid --init-groups` when root,
 * directly otherwise), with HOME/USER/LOGNAME set to that user's.
 */
export function runAsUser(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  const u = ensureUnprivilegedUser();
  const root = process.getuid?.() === 0;
  const argv = root ? ['setpriv', '--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', '--', cmd, ...args] : [cmd, ...args];
  const env = { ...process.env, ...opts.env, HOME: u.home, USER: u.name, LOGNAME: u.name };
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
