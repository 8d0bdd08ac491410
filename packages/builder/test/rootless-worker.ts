/**
 * Runs as the unprivileged test user: re-executes itself in a user namespace, then runs the key
 * RUN cases on both snapshotters and prints one JSON report line. Bundled by rootless.test.ts.
 */
import { readFileSync, statSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureUserNamespace } from '../src/rootless/userns.js';
import { RuncExecutor } from '../src/executor/index.js';
import { CopySnapshotter, OverlaySnapshotter, readXattrs } from '../src/snapshot/index.js';
import { dirApplier, isWhiteout, makeBusyboxRootfs, mountsUnder, runcList } from './executor-helpers.js';

const ns = await ensureUserNamespace();
if (ns.state === 'reexec') process.exit(ns.exitCode);

const work = process.argv[2] as string;
const report: Record<string, unknown> = { state: ns.state, uid: process.getuid?.(), uidMap: readFileSync('/proc/self/uid_map', 'utf8').trim() };
const base = makeBusyboxRootfs(path.join(work, 'base'));
const diffId = 'sha256:' + 'cd'.repeat(32);

for (const kind of ['overlay', 'copy'] as const) {
  const root = path.join(work, kind);
  const snapshotter = kind === 'overlay' ? new OverlaySnapshotter({ root }) : new CopySnapshotter({ root });
  const executor = new RuncExecutor({ stateDir: path.join(work, `state-${kind}`) });
  const snap = await snapshotter.prepare([{ diffId, apply: dirApplier(base) }]);
  const r: Record<string, unknown> = {};
  try {
    let out = '';
    const res = await executor.run({
      rootfs: snap.mergedDir,
      args: ['/bin/sh', '-c', 'echo x > /base/own && chown 1000:1000 /base/own && rm /base/del && rm -rf /base/repl && mkdir /base/repl && cat /run/secrets/s && grep CapEff /proc/self/status'],
      env: [],
      cwd: '/',
      user: '',
      mounts: [{ type: 'secret', target: '/run/secrets/s', content: 'rootless-secret\n' }],
      onOutput: (_s, c) => (out += c.toString()),
    });
    const asUser = await executor.run({ rootfs: snap.mergedDir, args: ['/bin/sh', '-c', 'id -u; touch /tmp/u'], env: [], cwd: '/', user: 'user' });
    const none = await executor.run({
      rootfs: snap.mergedDir,
      args: ['/bin/sh', '-c', 'ls /sys/class/net'],
      env: [],
      cwd: '/',
      user: '',
      network: 'none',
      onOutput: (_s, c) => (r.netNone = String(r.netNone ?? '') + c.toString()),
    });
    r.exitCode = res.exitCode;
    r.userExit = asUser.exitCode;
    r.noneExit = none.exitCode;
    r.out = out;
    const { upperDir, format } = await snap.diff();
    r.format = format;
    const own = statSync(path.join(upperDir, 'base/own'));
    r.ownUidGid = [own.uid, own.gid];
    r.userFileUid = statSync(path.join(upperDir, 'tmp/u')).uid;
    r.delWhiteout = isWhiteout(path.join(upperDir, 'base/del'));
    if (kind === 'overlay') r.opaque = (await readXattrs([path.join(upperDir, 'base/repl')])).get(path.join(upperDir, 'base/repl'))?.['user.overlay.opaque']?.toString();
    r.secretInUpper = existsSync(path.join(upperDir, 'run'));
    r.runcList = runcList(executor.runtimeRoot);
    r.runsLeft = readdirSync(path.join(work, `state-${kind}`, 'runs'));
    // Keep the overlay upper as a committed layer so the host side can inspect its ids.
    if (kind === 'overlay') await snap.commit('sha256:' + 'ef'.repeat(32));
  } catch (e) {
    r.error = String((e as Error).stack ?? e);
  } finally {
    await snap.release();
  }
  r.mountsLeft = mountsUnder(work);
  report[kind] = r;
}
process.stdout.write(JSON.stringify(report) + '\n');
