/**
 * The key RUN tests again, rootless: the CLI runs as the unprivileged `bi-builder` user (it
 * re-executes itself inside `unshare --map-root-user --map-auto`), on both snapshotters. Owners
 * other than root (1000, 65534) must come out exactly as in a root build, which only works when
 * the subordinate id range is mapped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addedLayers,
  allBlobTexts,
  busyboxLayout,
  cliBundle,
  expectNoRuntimeState,
  FS_CHANGES_DOCKERFILE,
  FS_CHANGES_OUTPUT,
  giveTo,
  mountsUnder,
  readConfig,
  runBundle,
  SNAPSHOTTERS,
  unpack,
} from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';
import { ensureUnprivilegedUser, runAsUser, type UnprivilegedUser } from './helpers/unprivileged-user.js';

afterAll(cleanupTempDirs);

const MOUNTS_DOCKERFILE = `FROM busybox
ARG ROUND
RUN --mount=type=cache,target=/cache,id=rl,sharing=locked sh -c 'cat /cache/seen > /prev 2>/dev/null || echo none > /prev; echo "round $ROUND" > /cache/seen'
RUN --mount=type=bind,target=/ctx sh -c 'ls -A /ctx | tr "\\n" " " > /ctx-list'
RUN --mount=type=secret,id=tok,uid=1000,mode=0440 sh -c 'stat -c "%a %u" /run/secrets/tok > /secret-stat; cat /run/secrets/tok | wc -c > /secret-len'
RUN --network=none sh -c 'ip -o link | cut -d: -f2 | tr -d " \\n" > /net-none'
RUN grep '^Seccomp:' /proc/self/status | cut -f2 > /seccomp; unshare -U true 2>/dev/null; echo $? >> /seccomp
USER app
RUN id > /tmp/id && touch /tmp/by-app
CMD ["cat", "/prev", "/tmp/id"]
`;

let user: UnprivilegedUser;
let cli: string;
let work: string;

/** Runs `build-image build` as the unprivileged user in `dir`. */
async function cliBuild(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runAsUser(process.execPath, [cli, 'build', '--progress', 'plain', '--build-context', `busybox=oci-layout://${await busyboxLayout()}:latest`, ...args, dir], {
    cwd: dir,
    timeoutMs: 120_000,
  });
}

beforeAll(async () => {
  user = ensureUnprivilegedUser();
  cli = await cliBundle();
  work = await makeTempDir('e2e-rootless-');
  await giveTo(work, user.uid, user.gid);
});

describe.each(SNAPSHOTTERS)('rootless RUN (%s snapshotter)', (snapshotter) => {
  let base: string;
  beforeAll(async () => {
    base = path.join(work, snapshotter);
    await writeTree(base, {
      'fs/Dockerfile': FS_CHANGES_DOCKERFILE,
      'mounts/Dockerfile': MOUNTS_DOCKERFILE,
      'mounts/a.txt': 'a\n',
      'mounts/ignored.txt': 'x\n',
      'mounts/.dockerignore': 'ignored.txt\n',
      'secret': 'rootless-secret-value-7c1d',
    });
    await giveTo(base, user.uid, user.gid);
  });

  it('writes whiteouts, hardlinks and owners 1000/65534 like a root build, and the image runs', async () => {
    const cache = path.join(base, 'cache-fs');
    const out = path.join(base, 'out-fs');
    const r = await cliBuild(path.join(base, 'fs'), ['--snapshotter', snapshotter, '--cache-dir', cache, '-t', 'img:latest', '--output', `type=oci,dest=${out},tar=false`]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const layers = await addedLayers(out);
    expect(layers).toHaveLength(2);
    const second = new Map(layers[1]!.map((e) => [e.name, e]));
    expect(second.get('data/.wh.del')).toMatchObject({ type: 'file', size: 0 });
    expect(second.get('data/.wh.gone')).toMatchObject({ type: 'file', size: 0 });
    // user.overlay.opaque (userxattr) must become the opaque marker; the copy differ lists removed children.
    expect(second.get(snapshotter === 'overlay' ? 'data/repl/.wh..wh..opq' : 'data/repl/.wh.old')).toMatchObject({ type: 'file', size: 0 });
    expect(second.get('data/own')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(second.get('data/app')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o4755 });
    expect(second.get('data/nobody')).toMatchObject({ uid: 65534, gid: 65534 });
    expect(second.get('data/appdir')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o750 });
    expect(second.get('data/chm')).toMatchObject({ uid: 0, gid: 0, mode: 0o600 });
    const links = [second.get('data/hard1')!, second.get('data/hard2')!].map((e) => e.type).sort();
    expect(links).toEqual(['file', 'link']);
    // No overlay or user-namespace artefacts: no xattr-only dirs, no mount stubs, no ids from the subordinate range.
    for (const e of layers.flat()) {
      expect(e.uid, e.name).toBeLessThan(65536);
      expect(e.gid, e.name).toBeLessThan(65536);
    }
    const bundle = await unpack(out);
    const st = await lstat(path.join(bundle, 'rootfs/data/nobody'));
    expect([st.uid, st.gid]).toEqual([65534, 65534]);
    const run = await runBundle(bundle);
    expect(run.stdout).toBe(FS_CHANGES_OUTPUT);
    // Nothing left mounted under the cache dir, in this (host) namespace.
    expect(await mountsUnder(cache)).toEqual([]);
  });

  it('reuses a cache mount across builds, binds the context, mounts secrets with their owner, runs as USER', async () => {
    const cache = path.join(base, 'cache-mounts');
    const outs = [path.join(base, 'out-m1'), path.join(base, 'out-m2')];
    const secret = path.join(base, 'secret');
    for (const [i, out] of outs.entries()) {
      const r = await cliBuild(path.join(base, 'mounts'), [
        '--snapshotter', snapshotter,
        '--cache-dir', cache,
        '--build-arg', `ROUND=${i + 1}`,
        '--secret', `id=tok,src=${secret}`,
        '-t', 'img:latest',
        '--output', `type=oci,dest=${out},tar=false`,
      ]);
      expect(r.stderr).not.toMatch(/^error/m);
      expect(r.code).toBe(0);
    }
    const bundle = await unpack(outs[1]!);
    const root = path.join(bundle, 'rootfs');
    expect((await runBundle(bundle)).stdout).toBe('round 1\nuid=1000(app) gid=1000(app) groups=1000(app)\n');
    expect(await readFile(path.join(root, 'prev'), 'utf8')).toBe('round 1\n');
    const list = (await readFile(path.join(root, 'ctx-list'), 'utf8')).split(' ');
    expect(list).toContain('a.txt');
    expect(list).not.toContain('ignored.txt');
    expect(await readFile(path.join(root, 'secret-stat'), 'utf8')).toBe('440 1000\n');
    expect(await readFile(path.join(root, 'net-none'), 'utf8')).toBe('lo');
    // The seccomp filter applies inside the user namespace too: no nested one.
    expect(await readFile(path.join(root, 'seccomp'), 'utf8')).toBe('2\n1\n');
    expect((await readFile(path.join(root, 'secret-len'), 'utf8')).trim()).toBe('26');
    expect(await readFile(path.join(root, 'tmp/id'), 'utf8')).toBe('uid=1000(app) gid=1000(app) groups=1000(app)\n');
    const byApp = await lstat(path.join(root, 'tmp/by-app'));
    expect([byApp.uid, byApp.gid]).toEqual([1000, 1000]);
    for (const out of outs) for (const blob of await allBlobTexts(out)) expect(blob.bytes.includes('rootless-secret-value-7c1d')).toBe(false);
    expect((await readConfig(outs[1]!)).config.history?.map((h) => h.created_by)).toContain(`RUN |1 ROUND=2 /bin/sh -c sh -c 'ls -A /ctx | tr "\\n" " " > /ctx-list' # buildkit`);
    expect(await mountsUnder(cache)).toEqual([]);
  });
});

describe('rootless failure', () => {
  it('exits 1 with the failing line and the exit code', async () => {
    const dir = path.join(work, 'fail');
    await writeTree(dir, { Dockerfile: 'FROM busybox\nRUN echo rootless-out && exit 42\n' });
    await giveTo(dir, user.uid, user.gid);
    const r = await cliBuild(dir, ['--cache-dir', path.join(dir, 'cache')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: Dockerfile:2: process "/bin/sh -c echo rootless-out && exit 42" did not complete successfully: exit code: 42');
    expect(r.stderr).toContain('rootless-out');
    expect(r.stderr).toMatch(/^> 2 \| RUN echo rootless-out && exit 42$/m);
  });
});

describe('rootless abort', () => {
  it('stops on SIGINT during a long RUN, leaving no container, process or mount', async () => {
    const dir = path.join(work, 'abort');
    await writeTree(dir, { Dockerfile: 'FROM busybox\nRUN echo started && sleep 30\n' });
    await giveTo(dir, user.uid, user.gid);
    const cache = path.join(dir, 'cache');
    const args = ['build', '--progress', 'plain', '--cache-dir', cache, '--build-context', `busybox=oci-layout://${await busyboxLayout()}:latest`, dir];
    const child = spawn('setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', process.execPath, cli, ...args], {
      cwd: dir,
      env: { ...process.env, HOME: user.home, USER: user.name, LOGNAME: user.name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let signalled = 0;
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // The container's own output line, not the step header that also says "started".
      if (!signalled && /^#\d+ [\d.]+ started$/m.test(stderr)) {
        signalled = Date.now();
        // The user's own CLI process (outside the namespace) forwards nothing: signal the whole tree it leads.
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(signalled).toBeGreaterThan(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(code).not.toBe(0);
    await expectNoRuntimeState(cache);
    expect(await mountsUnder(cache)).toEqual([]);
    const sleeping = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 30');
    expect(sleeping).toEqual([]);
  });
});
