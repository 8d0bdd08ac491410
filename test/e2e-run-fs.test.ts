/**
 * RUN changes to the base layer's files, on both snapshotters: what the layer tar says (whiteouts,
 * opaque dirs, hardlinks, owners, modes) and what `umoci unpack` makes of it, entry by entry.
 */
import { lstat, readFile, readlink, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addedLayers, e2eBuild, FS_CHANGES_DOCKERFILE as DOCKERFILE, readConfig, runBundle, SNAPSHOTTERS, unpack, type E2EBuild, type LayerEntry } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

describe.each(SNAPSHOTTERS)('RUN file changes (%s snapshotter)', (snapshotter) => {
  let b: E2EBuild;
  let layers: LayerEntry[][];
  let second: Map<string, LayerEntry>;
  let bundle: string;

  beforeAll(async () => {
    b = await e2eBuild({ dockerfile: DOCKERFILE, snapshotter, cacheDir: await makeTempDir('e2e-cache-') });
    layers = await addedLayers(b.layout);
    second = new Map(layers[1]!.map((e) => [e.name, e]));
    bundle = await unpack(b.layout);
  });

  it('adds one layer per RUN', () => {
    expect(layers).toHaveLength(2);
  });

  it('writes a deleted file as a .wh. whiteout and a deleted directory as one whiteout', () => {
    expect(second.get('data/.wh.del')).toMatchObject({ type: 'file', size: 0 });
    expect(second.get('data/.wh.gone')).toMatchObject({ type: 'file', size: 0 });
    // Nothing below a deleted directory.
    expect([...second.keys()].filter((n) => n.startsWith('data/gone/'))).toEqual([]);
  });

  it('hides the old children of a directory replaced wholesale', () => {
    expect(second.get('data/repl')).toMatchObject({ type: 'directory' });
    if (snapshotter === 'overlay') {
      // The upper dir is opaque: one marker hides everything below (Docker's overlay2 diff).
      expect(second.get('data/repl/.wh..wh..opq')).toMatchObject({ type: 'file', size: 0 });
      expect(second.has('data/repl/.wh.old')).toBe(false);
    } else {
      // A tree diff sees the removed children one by one, as BuildKit's differs emit them.
      expect(second.get('data/repl/.wh.old')).toMatchObject({ type: 'file', size: 0 });
    }
    expect(second.get('data/repl/new')?.data?.toString()).toBe('new\n');
    expect(second.has('data/repl/old')).toBe(false);
  });

  it('carries modified files whole and leaves untouched ones out', () => {
    expect(second.get('data/mod')?.data?.toString()).toBe('original\nmore\n');
    expect(second.has('data/keepdir/k')).toBe(false);
    expect(second.has('bin/busybox')).toBe(false);
  });

  it('writes symlinks, hardlinks (tar hardlink entry), modes and owners', () => {
    expect(second.get('data/keepdir/link')).toMatchObject({ type: 'symlink', linkname: '../mod' });
    const h1 = second.get('data/hard1')!;
    const h2 = second.get('data/hard2')!;
    // One of the two names carries the data, the other links to it.
    const [file, link] = h1.type === 'file' ? [h1, h2] : [h2, h1];
    expect(file).toMatchObject({ type: 'file' });
    expect(file.data?.toString()).toBe('h\n');
    expect(link).toMatchObject({ type: 'link', linkname: file.name });
    expect(second.get('data/chm')).toMatchObject({ mode: 0o600, uid: 0, gid: 0 });
    expect(second.get('data/own')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o644 });
    expect(second.get('data/app')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o4755 });
    expect(second.get('data/nobody')).toMatchObject({ uid: 65534, gid: 65534 });
    expect(second.get('data/appdir')).toMatchObject({ type: 'directory', uid: 1000, gid: 1000, mode: 0o750 });
    expect(second.get('data/empty')).toMatchObject({ type: 'file', size: 0 });
  });

  it('unpacks with umoci to the expected tree, entry by entry', async () => {
    const root = path.join(bundle, 'rootfs');
    const names = (await readdir(path.join(root, 'data'))).sort();
    expect(names).toEqual(['app', 'appdir', 'chm', 'empty', 'hard1', 'hard2', 'keepdir', 'mod', 'nobody', 'own', 'repl']);
    expect(await readdir(path.join(root, 'data/repl'))).toEqual(['new']);
    expect((await readdir(path.join(root, 'data/keepdir'))).sort()).toEqual(['k', 'link']);
    expect(await readlink(path.join(root, 'data/keepdir/link'))).toBe('../mod');
    expect(await readFile(path.join(root, 'data/mod'), 'utf8')).toBe('original\nmore\n');
    const st = async (p: string) => lstat(path.join(root, 'data', p));
    const h1 = await st('hard1');
    const h2 = await st('hard2');
    expect(h1.ino).toBe(h2.ino);
    expect(h1.nlink).toBe(2);
    expect((await st('chm')).mode & 0o7777).toBe(0o600);
    expect(await st('own')).toMatchObject({ uid: 1000, gid: 1000 });
    const app = await st('app');
    expect([app.uid, app.gid, app.mode & 0o7777]).toEqual([1000, 1000, 0o4755]);
    expect(await st('nobody')).toMatchObject({ uid: 65534, gid: 65534 });
    const appdir = await st('appdir');
    expect([appdir.uid, appdir.gid, appdir.mode & 0o7777, appdir.isDirectory()]).toEqual([1000, 1000, 0o750, true]);
  });

  it('runs from the unpacked bundle', async () => {
    const r = await runBundle(bundle);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('original\nmore\nnew\napp appdir chm empty hard1 hard2 keepdir mod nobody own repl ');
  });
});

describe.each(SNAPSHOTTERS)('identical layers in one chain (%s snapshotter)', (snapshotter) => {
  it('builds on top of several identical empty RUN layers and keeps one layer per RUN', async () => {
    const b = await e2eBuild({
      dockerfile: 'FROM busybox\nRUN true\nRUN true\nRUN true\nRUN echo ok > /ok\nCMD ["cat", "/ok"]\n',
      snapshotter,
      cacheDir: await makeTempDir('e2e-cache-'),
    });
    const layers = await addedLayers(b.layout);
    // The first RUN keeps the mount points runc created (the base has no /proc, /dev, /sys), as BuildKit does.
    expect(layers[0]!.map((e) => `${e.name} ${e.type} ${e.mode.toString(8)}`).sort()).toEqual(['dev directory 755', 'proc directory 755', 'sys directory 755']);
    expect(layers.slice(1).map((l) => l.length)).toEqual([0, 0, 1]);
    // An empty diff is the 1024-byte end-of-archive tar, the diffID every Docker/BuildKit empty layer has.
    const diffIds = ((await readConfig(b.layout)).config as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
    const empty = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';
    expect(diffIds.slice(2)).toEqual([empty, empty, expect.not.stringMatching(empty)]);
    expect(layers[3]![0]).toMatchObject({ name: 'ok', type: 'file' });
    expect(await runBundle(await unpack(b.layout)).then((r) => r.stdout)).toBe('ok\n');
  });
});
