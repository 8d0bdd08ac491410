/**
 * Rootless RUN: a small node program runs as the unprivileged `bi-builder`, re-executes itself
 * inside `unshare --map-root-user --map-auto` and runs real runc on both snapshotters.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { ensureUnprivilegedUser, runAsUser } from '../../../test/helpers/unprivileged-user.js';
import { explainUnshareFailure } from '../src/rootless/userns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tools = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v runc && command -v unshare && command -v newuidmap']);
    return Number(execFileSync('cat', ['/proc/sys/user/max_user_namespaces'], { encoding: 'utf8' })) > 0;
  } catch {
    return false;
  }
})();

describe.skipIf(!tools)('rootless RUN through the unprivileged user', () => {
  let dir: string;
  let work: string;
  let report: Record<string, any>;
  let user: ReturnType<typeof ensureUnprivilegedUser>;

  beforeAll(async () => {
    user = ensureUnprivilegedUser();
    dir = await makeTempDir('bi-rootless-');
    chmodSync(dir, 0o755);
    await build({
      entryPoints: [path.join(here, 'rootless-worker.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: path.join(dir, 'worker.mjs'),
      conditions: ['source'],
      logLevel: 'error',
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    work = path.join(dir, 'work');
    execFileSync('mkdir', [work]);
    if (process.getuid?.() === 0) chownSync(work, user.uid, user.gid);
    const r = await runAsUser(process.execPath, [path.join(dir, 'worker.mjs'), work], { cwd: dir, timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`worker failed (${r.code}): ${r.stderr}\n${r.stdout}`);
    report = JSON.parse(r.stdout.trim().split('\n').pop() as string);
  }, 180_000);

  afterAll(async () => {
    // Files owned by subordinate ids: remove them from inside a namespace as the user, then the rest as root.
    if (work && existsSync(work)) await runAsUser('unshare', ['--map-root-user', '--map-auto', 'rm', '-rf', work]);
    await cleanupTempDirs();
  });

  it('runs inside a user namespace mapping root to the user and 1..65535 to its subordinate range', () => {
    expect(report.state).toBe('inside');
    expect(report.uid).toBe(0);
    const lines = (report.uidMap as string).split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    expect(lines[0]).toEqual([0, user.uid, 1]);
    // unshare --map-auto maps the range minus one id (uid 0 already maps to the user).
    expect(lines[1]).toEqual([1, user.subuid.start, user.subuid.count - 1]);
  });

  it.each(['overlay', 'copy'])('%s: chown to 1000 inside shows as 1000 in the upper dir seen from inside', (kind) => {
    const r = report[kind];
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    expect(r.format).toBe('rootless');
    expect(r.ownUidGid).toEqual([1000, 1000]);
    expect(r.userExit).toBe(0);
    expect(r.userFileUid).toBe(1000);
    expect(r.delWhiteout).toBe(true);
    expect(r.out).toBe('rootless-secret\nCapEff:\t00000000a80425fb\n');
    expect(r.secretInUpper).toBe(false);
    expect(r.noneExit).toBe(0);
    expect(r.netNone.trim()).toBe('lo');
    expect(r.runcList).toEqual([]);
    expect(r.runsLeft).toEqual([]);
    expect(r.mountsLeft).toEqual([]);
    if (kind === 'overlay') expect(r.opaque).toBe('y');
  });

  it('from the host, the uid 1000 file belongs to subordinate id start+999', () => {
    if (process.getuid?.() !== 0) return;
    const st = statSync(path.join(work, 'overlay', 'layers', 'ef'.repeat(32), 'base/own'));
    expect(st.uid).toBe(user.subuid.start + 999);
    expect(st.gid).toBe(user.subgid.start + 999);
  });

  it('explains unshare failures with the fixing command', () => {
    expect(explainUnshareFailure('unshare: no line matching user "nosub" in /etc/subuid', 'nosub')).toBe(
      'User nosub has no range in /etc/subuid and /etc/subgid (need ≥ 65536): sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 nosub',
    );
    expect(explainUnshareFailure('unshare: unshare failed: Operation not permitted', 'x')).toContain('kernel.apparmor_restrict_unprivileged_userns=0');
  });
});
