/**
 * `probe()`: what this host offers for (rootless) builds, and for each missing piece the exact
 * command that fixes it. Backs `build-image doctor`. Every check is a real attempt where one is
 * cheap (an overlay mount in a temp dir, a user namespace via unshare), not a guess from versions.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runningInUserNamespace } from './idmap.js';

const run = promisify(execFile);

/** One check's outcome. */
export interface ProbeCheck {
  name: string;
  ok: boolean;
  /** What was found (version, value, error text). */
  detail: string;
  /** Command or instruction that fixes a failed check. */
  fix?: string;
  /** True when the check does not apply (e.g. rootless checks when running as root) and failure is harmless. */
  optional?: boolean;
}

/** The structured report of {@link probe}. */
export interface ProbeReport {
  user: string;
  uid: number;
  root: boolean;
  inUserNamespace: boolean;
  cgroupMode: 'v1' | 'hybrid' | 'v2' | 'unknown';
  subuid?: { start: number; count: number };
  subgid?: { start: number; count: number };
  runtimes: { runc?: string; crun?: string };
  checks: ProbeCheck[];
  /** True when a build can run as this user with the default settings. */
  ready: boolean;
}

/** Options of {@link probe}. */
export interface ProbeOptions {
  /** Where to try the overlay mount (default: os.tmpdir()); use the engine's state dir. */
  stateDir?: string;
}

async function readText(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

async function which(bin: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function version(bin: string): Promise<string | undefined> {
  const p = await which(bin);
  if (!p) return undefined;
  try {
    const { stdout } = await run(p, ['--version']);
    return (stdout.split('\n')[0] ?? '').trim();
  } catch {
    return 'unknown version';
  }
}

function subRange(text: string | undefined, user: string, uid: number): { start: number; count: number } | undefined {
  for (const line of (text ?? '').split('\n')) {
    const [u, s, c] = line.trim().split(':');
    if ((u === user || u === String(uid)) && s && c) return { start: Number(s), count: Number(c) };
  }
  return undefined;
}

/** cgroup v2 only, v1 only, or both (hybrid: v1 controllers plus /sys/fs/cgroup/unified). */
export async function cgroupMode(): Promise<ProbeReport['cgroupMode']> {
  if (await readText('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  try {
    await stat('/sys/fs/cgroup/unified/cgroup.controllers');
    return 'hybrid';
  } catch {
    /* not hybrid */
  }
  try {
    await stat('/sys/fs/cgroup/memory');
    return 'v1';
  } catch {
    return 'unknown';
  }
}

async function tryOverlay(dir: string, rootlessArgs: string[] | undefined): Promise<{ ok: boolean; detail: string }> {
  const script =
    'set -e; cd "$1"; mkdir -p l u w m; echo x > l/f; ' +
    'mount -t overlay overlay -o "lowerdir=$PWD/l,upperdir=$PWD/u,workdir=$PWD/w,$2" m; ' +
    'rm m/f; test -c u/f; umount m';
  const opts = rootlessArgs ? 'userxattr' : 'redirect_dir=off,index=off,metacopy=off';
  const argv = rootlessArgs ? [...rootlessArgs, 'sh', '-c', script, 'sh', dir, opts] : ['sh', '-c', script, 'sh', dir, opts];
  try {
    await run(argv[0] as string, argv.slice(1));
    return { ok: true, detail: `overlay (${opts}) mounts and records whiteouts in ${dir}` };
  } catch (e) {
    return { ok: false, detail: String((e as { stderr?: string }).stderr || (e as Error).message).trim() };
  }
}

/**
 * Checks the host. Never throws; each failure is a check with `ok: false` and a `fix`.
 *
 * @example
 * ```ts
 * const report = await probe();
 * console.log(formatProbe(report));
 * process.exitCode = report.ready ? 0 : 1;
 * ```
 */
export async function probe(options: ProbeOptions = {}): Promise<ProbeReport> {
  const uid = process.getuid?.() ?? -1;
  const user = os.userInfo().username;
  const root = uid === 0;
  const inUserNamespace = runningInUserNamespace();
  const checks: ProbeCheck[] = [];
  const needRootless = !root && !inUserNamespace;

  const maxNs = Number((await readText('/proc/sys/user/max_user_namespaces'))?.trim() ?? 'NaN');
  checks.push({
    name: 'user namespaces enabled',
    ok: maxNs > 0,
    detail: Number.isNaN(maxNs) ? 'unknown' : `user.max_user_namespaces=${maxNs}`,
    fix: 'sudo sysctl -w user.max_user_namespaces=15000',
    optional: !needRootless,
  });
  const apparmor = (await readText('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'))?.trim();
  checks.push({
    name: 'AppArmor allows unprivileged user namespaces',
    ok: apparmor === undefined || apparmor === '0',
    detail: apparmor === undefined ? 'no restriction present' : `kernel.apparmor_restrict_unprivileged_userns=${apparmor}`,
    fix: 'sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
    optional: !needRootless,
  });
  const subuid = subRange(await readText('/etc/subuid'), user, uid);
  const subgid = subRange(await readText('/etc/subgid'), user, uid);
  const rangeFix = `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user}`;
  checks.push({
    name: 'subordinate uid range (/etc/subuid, ≥ 65536)',
    ok: (subuid?.count ?? 0) >= 65536,
    detail: subuid ? `${subuid.start}:${subuid.count}` : `no entry for ${user}`,
    fix: rangeFix,
    optional: !needRootless,
  });
  checks.push({
    name: 'subordinate gid range (/etc/subgid, ≥ 65536)',
    ok: (subgid?.count ?? 0) >= 65536,
    detail: subgid ? `${subgid.start}:${subgid.count}` : `no entry for ${user}`,
    fix: rangeFix,
    optional: !needRootless,
  });
  for (const bin of ['newuidmap', 'newgidmap']) {
    const p = await which(bin);
    let setuid = false;
    if (p) setuid = ((await stat(p)).mode & 0o4000) !== 0;
    checks.push({
      name: `${bin} installed and setuid`,
      ok: !!p && setuid,
      detail: p ? `${p}${setuid ? ' (setuid)' : ' (not setuid)'}` : 'not found',
      fix: p ? `sudo chmod u+s ${p}` : 'sudo apt-get install -y uidmap',
      optional: !needRootless,
    });
  }
  const unshare = await which('unshare');
  checks.push({ name: 'unshare (util-linux)', ok: !!unshare, detail: unshare ?? 'not found', fix: 'sudo apt-get install -y util-linux', optional: !needRootless });

  const runc = await version('runc');
  const crun = await version('crun');
  checks.push({ name: 'runc installed', ok: !!runc, detail: runc ?? 'not found', fix: 'sudo apt-get install -y runc' });
  const cg = await cgroupMode();
  if (crun) {
    checks.push({
      name: 'crun usable',
      ok: cg !== 'hybrid',
      detail: cg === 'hybrid' ? `${crun}; cgroups are hybrid, which crun refuses` : crun,
      fix: 'use the default runtime (runc), or boot with systemd.unified_cgroup_hierarchy=1',
      optional: true,
    });
  }

  let tmp: string | undefined;
  try {
    tmp = await mkdtemp(path.join(options.stateDir ?? os.tmpdir(), 'bi-probe-'));
    if (root || inUserNamespace) {
      const r = await tryOverlay(tmp, undefined);
      checks.push({
        name: 'overlay snapshots',
        ok: r.ok,
        detail: r.detail,
        fix: 'put the state dir on ext4, xfs or tmpfs (not on overlayfs); the copy snapshotter is used meanwhile',
        optional: true,
      });
    }
    if (!root && !inUserNamespace) {
      const r = await tryOverlay(tmp, ['unshare', '--map-root-user', '--map-auto', '--mount']);
      checks.push({
        name: 'user namespace + rootless overlay (userxattr)',
        ok: r.ok,
        detail: r.detail,
        fix: /no line matching|not allowed/.test(r.detail)
          ? rangeFix
          : /Operation not permitted|Permission denied/.test(r.detail)
            ? 'sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0'
            : 'needs Linux ≥ 5.11 for rootless overlay; the copy snapshotter is used otherwise',
      });
    }
  } catch (e) {
    checks.push({ name: 'temporary directory', ok: false, detail: String(e), fix: 'make the state dir writable' });
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }

  const ready = checks.every((c) => c.ok || c.optional);
  return {
    user,
    uid,
    root,
    inUserNamespace,
    cgroupMode: cg,
    ...(subuid ? { subuid } : {}),
    ...(subgid ? { subgid } : {}),
    runtimes: { ...(runc ? { runc } : {}), ...(crun ? { crun } : {}) },
    checks,
    ready,
  };
}

/**
 * Human-readable report for `build-image doctor`: one line per check, then the fixes.
 */
export function formatProbe(report: ProbeReport): string {
  const lines: string[] = [];
  lines.push(`user: ${report.user} (uid ${report.uid})${report.root ? ', root' : ''}${report.inUserNamespace ? ', inside a user namespace' : ''}`);
  lines.push(`cgroups: ${report.cgroupMode}`);
  for (const c of report.checks) {
    const mark = c.ok ? 'ok  ' : c.optional ? 'skip' : 'FAIL';
    lines.push(`[${mark}] ${c.name}: ${c.detail}`);
  }
  const fixes = report.checks.filter((c) => !c.ok && !c.optional && c.fix);
  if (fixes.length > 0) {
    lines.push('', 'To fix:');
    for (const c of fixes) lines.push(`  ${c.fix}`);
  }
  lines.push('', report.ready ? 'Ready to build.' : 'Not ready to build: fix the failed checks above.');
  return lines.join('\n');
}
