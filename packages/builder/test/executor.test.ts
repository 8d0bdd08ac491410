/**
 * RUN under real runc, as root, on both snapshotters: what lands in the upper dir, what the
 * process sees, and that nothing is left behind.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { ExecAbortedError, RuncExecutor } from '../src/executor/index.js';
import { CopySnapshotter, OverlaySnapshotter, readXattrs } from '../src/snapshot/index.js';
import type { ExecStep } from '../src/executor/index.js';
import type { MutableSnapshot, Snapshotter } from '../src/snapshot/index.js';
import { dirApplier, isWhiteout, makeBusyboxRootfs, mountsUnder, runcList } from './executor-helpers.js';

const isRoot = process.getuid?.() === 0;
const hasRunc = (() => {
  try {
    execFileSync('runc', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

const BASE_DIFF = 'sha256:' + 'ab'.repeat(32);

describe.skipIf(!isRoot || !hasRunc).each(['overlay', 'copy'] as const)('RuncExecutor on the %s snapshotter (root)', (kind) => {
  let tmp: string;
  let base: string;
  let snapshotter: Snapshotter;
  let executor: RuncExecutor;
  let stateDir: string;

  beforeAll(async () => {
    tmp = await makeTempDir(`bi-exec-${kind}-`);
    base = makeBusyboxRootfs(path.join(tmp, 'base-layer'));
    snapshotter = kind === 'overlay' ? new OverlaySnapshotter({ root: path.join(tmp, 'snap') }) : new CopySnapshotter({ root: path.join(tmp, 'snap') });
    stateDir = path.join(tmp, 'state');
    executor = new RuncExecutor({ stateDir });
  });
  afterAll(async () => {
    expect(mountsUnder(tmp)).toEqual([]);
    await cleanupTempDirs();
  });

  async function runIn(snap: MutableSnapshot, script: string, extra: Partial<ExecStep> = {}) {
    let out = '';
    const r = await executor.run({
      rootfs: snap.mergedDir,
      args: ['/bin/sh', '-c', script],
      env: ['FOO=bar baz'],
      cwd: '/',
      user: '',
      onOutput: (_s, c) => (out += c.toString()),
      ...extra,
    });
    return { ...r, out };
  }

  async function withSnapshot<T>(fn: (snap: MutableSnapshot) => Promise<T>): Promise<T> {
    const snap = await snapshotter.prepare([{ diffId: BASE_DIFF, apply: dirApplier(base) }]);
    try {
      return await fn(snap);
    } finally {
      await snap.release();
    }
  }

  it('records file changes in the upper dir: modify, delete, replace dir, links, chown', async () => {
    await withSnapshot(async (snap) => {
      const r = await runIn(
        snap,
        [
          'echo more >> /base/mod',
          'rm /base/del',
          'rm -rf /base/repl && mkdir /base/repl && echo c > /base/repl/c',
          'ln -s /base/mod /base/sym',
          'ln /base/mod /base/hard',
          'echo x > /base/own && chown 1000:1000 /base/own && chmod 0640 /base/own',
        ].join(' && '),
      );
      expect(r.exitCode).toBe(0);
      const { upperDir } = await snap.diff();
      const u = (p: string) => path.join(upperDir, p);
      expect(readFileSync(u('base/mod'), 'utf8')).toBe('base\nmore\n');
      expect(isWhiteout(u('base/del'))).toBe(true);
      expect(readFileSync(u('base/repl/c'), 'utf8')).toBe('c\n');
      if (kind === 'overlay') {
        const x = await readXattrs([u('base/repl')]);
        expect(x.get(u('base/repl'))?.['trusted.overlay.opaque']?.toString()).toBe('y');
        expect(existsSync(u('base/repl/a'))).toBe(false);
      } else {
        // The copy diff expresses a replaced directory as whiteouts of its old children.
        expect(isWhiteout(u('base/repl/a'))).toBe(true);
        expect(isWhiteout(u('base/repl/b'))).toBe(true);
      }
      expect(lstatSync(u('base/sym')).isSymbolicLink()).toBe(true);
      expect(execFileSync('readlink', [u('base/sym')], { encoding: 'utf8' }).trim()).toBe('/base/mod');
      expect(statSync(u('base/hard')).ino).toBe(statSync(u('base/mod')).ino);
      expect(statSync(u('base/mod')).nlink).toBe(2);
      const own = statSync(u('base/own'));
      expect([own.uid, own.gid, own.mode & 0o7777]).toEqual([1000, 1000, 0o640]);
      // Unchanged base files are not in the upper; neither are the /etc/hosts and resolv.conf stubs.
      expect(existsSync(u('etc/passwd'))).toBe(false);
      expect(existsSync(u('etc/hosts'))).toBe(false);
      expect(existsSync(u('etc/resolv.conf'))).toBe(false);
      expect(existsSync(u('bin/busybox'))).toBe(false);
    });
  });

  it('runs as USER 1000 with env, cwd and supplementary groups; files are owned by 1000', async () => {
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'id; pwd; echo "$FOO"; echo "$PATH"; echo "$HOME"; touch /tmp/u; touch here', { user: 'user', cwd: '/work/dir' });
      expect(r.exitCode).toBe(0);
      expect(r.out.split('\n').slice(0, 5)).toEqual([
        'uid=1000(user) gid=1000(user) groups=10(wheel),1000(user)',
        '/work/dir',
        'bar baz',
        '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '/home/user',
      ]);
      const { upperDir } = await snap.diff();
      const st = statSync(path.join(upperDir, 'tmp/u'));
      expect([st.uid, st.gid]).toEqual([1000, 1000]);
      const wd = statSync(path.join(upperDir, 'work/dir'));
      expect([wd.uid, wd.gid, wd.mode & 0o777]).toEqual([1000, 1000, 0o755]);
      expect(statSync(path.join(upperDir, 'work/dir/here')).uid).toBe(1000);
    });
  });

  it('reports a non-zero exit code with the last output lines', async () => {
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo line$i; done; echo oops; exit 7');
      expect(r.exitCode).toBe(7);
      expect(r.tail).toHaveLength(20);
      expect(r.tail[r.tail.length - 1]).toBe('oops');
      expect(r.tail[r.tail.length - 2]).toBe('line25');
    });
  });

  it('gives root exactly Docker’s 14 default capabilities and the buildkitsandbox hostname', async () => {
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'grep -E "^Cap(Eff|Bnd|Prm|Inh|Amb)" /proc/self/status; hostname; cat /etc/hosts');
      expect(r.out).toContain('CapEff:\t00000000a80425fb');
      expect(r.out).toContain('CapBnd:\t00000000a80425fb');
      expect(r.out).toContain('CapPrm:\t00000000a80425fb');
      expect(r.out).toContain('CapInh:\t0000000000000000');
      expect(r.out).toContain('CapAmb:\t0000000000000000');
      expect(r.out).toContain('buildkitsandbox\n127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    });
  });

  it('network none sees only lo; host network sees the host interfaces', async () => {
    await withSnapshot(async (snap) => {
      const none = await runIn(snap, 'ls /sys/class/net', { network: 'none' });
      expect(none.out.trim().split(/\s+/)).toEqual(['lo']);
      const host = await runIn(snap, 'ls /sys/class/net');
      expect(host.out.trim().split(/\s+/).sort()).toEqual(readdirSync('/sys/class/net').sort());
    });
  });

  it('cannot see host files', async () => {
    const sentinel = `/tmp/bi-sentinel-${randomBytes(6).toString('hex')}`;
    writeFileSync(sentinel, 'host secret');
    try {
      await withSnapshot(async (snap) => {
        const r = await runIn(snap, `test -e ${sentinel} && echo visible || echo absent; ls /tmp`);
        expect(r.out.split('\n')[0]).toBe('absent');
      });
    } finally {
      execFileSync('rm', ['-f', sentinel]);
    }
  });

  it('secret mounts are readable inside and never reach the upper dir; tmpfs content is discarded', async () => {
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'cat /run/secrets/tok; stat -c "%a %u" /run/secrets/tok; echo t > /mnt/t/file; ls /mnt/t', {
        mounts: [
          { type: 'secret', target: '/run/secrets/tok', content: 'S3CR3T-VALUE', mode: 0o400 },
          { type: 'tmpfs', target: '/mnt/t' },
        ],
      });
      expect(r.exitCode).toBe(0);
      expect(r.out).toBe('S3CR3T-VALUE400 0\nfile\n');
      const { upperDir } = await snap.diff();
      expect(existsSync(path.join(upperDir, 'run'))).toBe(false);
      expect(existsSync(path.join(upperDir, 'mnt'))).toBe(false);
      const grep = execFileSync('sh', ['-c', `grep -r S3CR3T-VALUE ${upperDir} || true`], { encoding: 'utf8' });
      expect(grep).toBe('');
    });
  });

  it('cache mounts keep files across runs and are created with the given owner and mode', async () => {
    const cacheDir = path.join(tmp, 'caches', 'c1');
    const mounts = [{ type: 'cache' as const, hostDir: cacheDir, target: '/root/.cache/x', uid: 1000, gid: 1000, mode: 0o750 }];
    await withSnapshot(async (snap) => {
      expect((await runIn(snap, 'echo one >> /root/.cache/x/log', { mounts })).exitCode).toBe(0);
      const { upperDir } = await snap.diff();
      expect(existsSync(path.join(upperDir, 'root/.cache'))).toBe(false);
    });
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'echo two >> /root/.cache/x/log; cat /root/.cache/x/log', { mounts });
      expect(r.out).toBe('one\ntwo\n');
    });
    const st = statSync(cacheDir);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1000, 0o750]);
  });

  it('rw bind mounts do not modify their source', async () => {
    const src = path.join(tmp, 'bindsrc');
    execFileSync('mkdir', ['-p', src]);
    writeFileSync(path.join(src, 'f'), 'orig');
    await withSnapshot(async (snap) => {
      const r = await runIn(snap, 'echo changed > /src/f; echo new > /src/g; cat /src/f; cat /ro/f; (echo x > /ro/f) 2>/dev/null || echo ro-denied', {
        mounts: [
          { type: 'bind', source: src, target: '/src', readonly: false },
          { type: 'bind', source: src, target: '/ro' },
        ],
      });
      expect(r.out).toContain('changed\norig');
      expect(r.out).toContain('ro-denied');
    });
    expect(readFileSync(path.join(src, 'f'), 'utf8')).toBe('orig');
    expect(existsSync(path.join(src, 'g'))).toBe(false);
  });

  it('abort kills the container and leaves no runc state, mount or bundle', async () => {
    await withSnapshot(async (snap) => {
      const ac = new AbortController();
      let seen = '';
      const p = executor.run({
        rootfs: snap.mergedDir,
        args: ['/bin/sh', '-c', 'echo started; sleep 300'],
        env: [],
        cwd: '/',
        user: '',
        signal: ac.signal,
        onOutput: (_s, c) => {
          seen += c.toString();
          if (seen.includes('started')) ac.abort();
        },
      });
      const t = Date.now();
      await expect(p).rejects.toBeInstanceOf(ExecAbortedError);
      expect(Date.now() - t).toBeLessThan(10_000);
      expect(runcList(executor.runtimeRoot)).toEqual([]);
    });
    expect(mountsUnder(tmp)).toEqual([]);
    expect(readdirSync(path.join(stateDir, 'runs'))).toEqual([]);
  });

  it('removes the bundles and secret files of RUNs abandoned by a killed build, and nothing in use', async () => {
    const own = path.join(tmp, 'sweep');
    const secretsRoot = path.join(own, 'secrets');
    const sweeper = new RuncExecutor({ stateDir: path.join(own, 'state'), secretsRoot });
    const runs = path.join(own, 'state', 'runs');
    const id = () => `bi-${randomBytes(8).toString('hex')}`;
    const [abandoned, recent, running] = [id(), id(), id()];
    for (const r of [abandoned, recent, running]) {
      mkdirSync(path.join(runs, r, 'bundle'), { recursive: true });
      writeFileSync(path.join(runs, r, 'bundle', 'config.json'), '{"process":{"env":["TOKEN=s3cret"]}}');
      mkdirSync(path.join(secretsRoot, `build-image-${r}`), { recursive: true });
    }
    // A runtime still knows `running` (a long RUN of a build beside this one).
    mkdirSync(path.join(own, 'state', 'runc', running), { recursive: true });
    const old = new Date(Date.now() - 5 * 60_000);
    for (const r of [abandoned, running]) utimesSync(path.join(runs, r), old, old);
    await withSnapshot(async (snap) => {
      const r = await sweeper.run({ rootfs: snap.mergedDir, args: ['/bin/true'], env: [], cwd: '/', user: '' });
      expect(r.exitCode).toBe(0);
    });
    expect(readdirSync(runs).sort()).toEqual([recent, running].sort());
    expect(readdirSync(secretsRoot).sort()).toEqual([`build-image-${recent}`, `build-image-${running}`].sort());
  });
});
