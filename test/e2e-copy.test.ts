/**
 * End to end: Dockerfiles without RUN, built through the public `build()`, exported as OCI
 * layouts, unpacked with `umoci unpack` (strict: every digest and size is checked) and compared
 * entry by entry with what BuildKit's Dockerfile frontend and fsutil copier produce.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildContextSpec } from '@build-image/builder';
import { makeBusyboxImage, PASSWD, type BusyboxImage } from './helpers/busybox-image.js';
import { buildImage, dir, file, listTree, readLayout, skopeoInspect, symlinkTo, unpackLayout, type BuildImageOptions, type TreeEntryInfo } from './helpers/e2e.js';
import { cleanupTempDirs, makeTempDir, writeTree, type Tree } from './helpers/tmp.js';

let busybox: BusyboxImage;
let cacheDir: string;
let base: BuildContextSpec;

beforeAll(async () => {
  busybox = await makeBusyboxImage();
  cacheDir = await makeTempDir('e2e-copy-cache-');
  base = { name: 'base', kind: 'oci-layout', dir: busybox.layoutDir, tag: 'latest' };
});
afterAll(cleanupTempDirs);

/** The context most cases share. */
const CONTEXT: Tree = {
  'a.txt': 'A',
  'b.txt': { content: 'B', mode: 0o600 },
  'run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
  'dir/': { dir: true, mode: 0o750 },
  'dir/x': { content: 'X', mode: 0o640 },
  'dir/sub/y': 'Y',
  'dir/link': { symlink: 'x' },
  'docs/a.md': 'a',
  'docs/b.txt': 'b',
  'docs/sub/c.md': 'c',
  'docs/sub/d.md': 'd',
  'src/a/one.txt': '1',
  'src/b/two.txt': '2',
};

/** Builds, validates the layout with skopeo and umoci, and returns the rootfs (busybox's /bin not descended) and config. */
async function buildAndUnpack(dockerfile: string, extra: Partial<BuildImageOptions> = {}, files: Tree = CONTEXT) {
  const built = await buildImage({ dockerfile, files, cacheDir, buildContexts: [base], ...extra });
  const img = await readLayout(built.layoutDir);
  const inspected = await skopeoInspect(`oci:${built.layoutDir}:latest`);
  expect(inspected.Digest).toBe(img.manifestDigest);
  expect(inspected.Layers).toHaveLength(img.config.rootfs.diff_ids.length);
  const { rootfs } = await unpackLayout(built.layoutDir);
  const tree = await listTree(rootfs, { skip: ['bin'] });
  return { ...built, img, tree, rootfs };
}

/** The busybox base's own entries (what every FROM base tree starts with). */
const BASE_ENTRIES = ['bin', 'etc', 'etc/group', 'etc/passwd', 'home', 'home/app', 'root', 'tmp', 'usr', 'usr/bin', 'usr/bin/env'];
function withoutBase(tree: Record<string, TreeEntryInfo>): Record<string, TreeEntryInfo> {
  return Object.fromEntries(Object.entries(tree).filter(([k]) => !BASE_ENTRIES.includes(k)));
}

describe('COPY shapes (FROM scratch)', () => {
  it('file → path, into a new dir (trailing /), several sources, dir contents, wildcards', async () => {
    const { tree, img } = await buildAndUnpack(
      [
        'FROM scratch',
        'COPY a.txt /renamed.txt',
        'COPY a.txt /newdir/',
        'COPY a.txt b.txt /multi/',
        'COPY dir /dircontents',
        'COPY *.txt /wild/',
        'COPY run.sh /',
        'COPY d*/*.md /wild-md/',
        '',
      ].join('\n'),
    );
    expect(tree).toEqual({
      'renamed.txt': file('A'),
      newdir: dir(),
      'newdir/a.txt': file('A'),
      multi: dir(),
      'multi/a.txt': file('A'),
      'multi/b.txt': file('B', '0600'),
      // The directory's contents, not the directory: the destination is created 0755, not with the source dir's 0750.
      dircontents: dir(),
      'dircontents/x': file('X', '0640'),
      'dircontents/sub': dir(),
      'dircontents/sub/y': file('Y'),
      'dircontents/link': symlinkTo('x'),
      wild: dir(),
      'wild/a.txt': file('A'),
      'wild/b.txt': file('B', '0600'),
      'run.sh': file('#!/bin/sh\n', '0755'),
      'wild-md': dir(),
      'wild-md/a.md': file('a'),
    });
    expect(img.config.rootfs.diff_ids).toHaveLength(7);
    expect(img.config.history.map((h: { created_by: string }) => h.created_by)).toEqual([
      'COPY a.txt /renamed.txt # buildkit',
      'COPY a.txt /newdir/ # buildkit',
      'COPY a.txt b.txt /multi/ # buildkit',
      'COPY dir /dircontents # buildkit',
      'COPY *.txt /wild/ # buildkit',
      'COPY run.sh / # buildkit',
      'COPY d*/*.md /wild-md/ # buildkit',
    ]);
    expect(img.config.history.every((h: { comment?: string; empty_layer?: boolean }) => h.comment === 'buildkit.dockerfile.v0' && !h.empty_layer)).toBe(true);
  });

  it('several sources need a destination ending in /', async () => {
    await expect(buildImage({ dockerfile: 'FROM scratch\nCOPY a.txt b.txt /multi\n', files: CONTEXT, cacheDir })).rejects.toThrow(
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
  });

  it('a wildcard matching nothing is an error; a missing source is an error naming it', async () => {
    await expect(buildImage({ dockerfile: 'FROM scratch\nCOPY *.nothing /x/\n', files: CONTEXT, cacheDir })).rejects.toThrow(/\*\.nothing/);
    await expect(buildImage({ dockerfile: 'FROM scratch\nCOPY missing.txt /x\n', files: CONTEXT, cacheDir })).rejects.toThrow(/missing\.txt/);
  });
});

describe('COPY onto a base image (busybox OCI layout as named context)', () => {
  it('relative destinations against WORKDIR, an existing directory, --chown by name and id, --chmod octal and symbolic', async () => {
    const { tree, img } = await buildAndUnpack(
      [
        'FROM base',
        'WORKDIR /app',
        'COPY a.txt .',
        'COPY a.txt rel/',
        'COPY a.txt /etc/',
        'COPY --chown=app a.txt /own/name.txt',
        'COPY --chown=app:nogroup a.txt /own/name-group.txt',
        'COPY --chown=1234 a.txt /own/id.txt',
        'COPY --chown=1234:55 a.txt /own/id-gid.txt',
        'COPY --chown=nosuchuser a.txt /own/unknown.txt',
        'COPY --chown=app dir /own-dir/',
        'COPY --chmod=640 dir /chm/',
        'COPY --chmod=u+x,g-r a.txt /sym/a',
        'COPY --chmod=a=rX dir /symdir/',
        '',
      ].join('\n'),
    );
    expect(withoutBase(tree)).toEqual({
      app: dir(),
      'app/a.txt': file('A'),
      'app/rel': dir(),
      'app/rel/a.txt': file('A'),
      'etc/a.txt': file('A'),
      // Parents created by a --chown copy belong to that owner (fsutil MkdirAll with the chowner).
      own: dir('0755', 1000, 1000),
      'own/name.txt': file('A', '0644', 1000, 1000),
      'own/name-group.txt': file('A', '0644', 1000, 65534),
      'own/id.txt': file('A', '0644', 1234, 1234),
      'own/id-gid.txt': file('A', '0644', 1234, 55),
      // BuildKit's FileOp: a user name missing from /etc/passwd silently means 0:0.
      'own/unknown.txt': file('A'),
      'own-dir': dir('0755', 1000, 1000),
      'own-dir/x': file('X', '0640', 1000, 1000),
      'own-dir/sub': dir('0755', 1000, 1000),
      'own-dir/sub/y': file('Y', '0644', 1000, 1000),
      'own-dir/link': symlinkTo('x', 1000, 1000),
      // An octal --chmod also applies to the destination directories the copy creates.
      chm: dir('0640'),
      'chm/x': file('X', '0640'),
      'chm/sub': dir('0640'),
      'chm/sub/y': file('Y', '0640'),
      'chm/link': symlinkTo('x'),
      sym: dir(),
      'sym/a': file('A', '0704'),
      symdir: dir(),
      'symdir/x': file('X', '0444'),
      'symdir/sub': dir('0555'),
      'symdir/sub/y': file('Y', '0444'),
      'symdir/link': symlinkTo('x'),
    });
    // The base's entries are untouched.
    expect(tree['etc']).toEqual(dir());
    expect(tree['etc/passwd']).toEqual(file(PASSWD));
    expect(img.config.config.WorkingDir).toBe('/app');
    expect(img.config.rootfs.diff_ids).toHaveLength(1 + 1 + 12); // base, WORKDIR, 12 COPYs
    expect(img.config.history.slice(1, 3)).toEqual([
      { created: expect.any(String), created_by: 'WORKDIR /app', comment: 'buildkit.dockerfile.v0' },
      { created: expect.any(String), created_by: 'COPY a.txt . # buildkit', comment: 'buildkit.dockerfile.v0' },
    ]);
    expect(img.config.history.map((h: { created_by: string }) => h.created_by)).toContain('COPY --chown=app:nogroup a.txt /own/name-group.txt # buildkit');
    expect(img.config.history.map((h: { created_by: string }) => h.created_by)).toContain('COPY --chmod=640 dir /chm/ # buildkit');
  });

  it('a destination that is a symlink is followed inside the rootfs (fsutil resolves it with RootPath)', async () => {
    const { tree, rootfs } = await buildAndUnpack('FROM base\nCOPY a.txt /usr/bin/env\nCOPY dir /usr/bin/\n');
    // /usr/bin/env -> ../../bin/busybox: the file lands on the link's target, the link stays.
    expect(tree['usr/bin/env']).toEqual(symlinkTo('../../bin/busybox'));
    expect(await readFile(path.join(rootfs, 'bin/busybox'), 'utf8')).toBe('A');
    expect(((await stat(path.join(rootfs, 'bin/busybox'))).mode & 0o7777).toString(8)).toBe('644');
    expect(tree['usr/bin/x']).toEqual(file('X', '0640'));
    expect(tree['usr/bin/sub/y']).toEqual(file('Y'));
  });

  it('--link, --parents (with a /./ pivot), --exclude, heredocs', async () => {
    const { tree, img } = await buildAndUnpack(
      [
        '# syntax=docker/dockerfile:1',
        'FROM base',
        'COPY --link a.txt /linked/',
        'COPY --link --chown=app b.txt /linked/',
        'COPY --parents src/a/one.txt src/b/two.txt /par/',
        'COPY --parents ./src/./a/one.txt /piv/',
        'COPY --parents src/*/*.txt /parglob/',
        'COPY --exclude=*.md docs /ex/',
        'COPY --exclude=**/*.md --exclude=sub docs /ex2/',
        'COPY <<EOF /here.txt',
        'hello',
        '  world',
        'EOF',
        'COPY <<one.txt <<two.txt /heredocs/',
        '1',
        'one.txt',
        '2',
        'two.txt',
        '',
      ].join('\n'),
    );
    expect(withoutBase(tree)).toEqual({
      // --link copies onto scratch: the second layer carries its own `linked/` (made by the --chown
      // copy, so 1000:1000), which replaces the first layer's when the layers are stacked.
      linked: dir('0755', 1000, 1000),
      'linked/a.txt': file('A'),
      'linked/b.txt': file('B', '0600', 1000, 1000),
      par: dir(),
      'par/src': dir(),
      'par/src/a': dir(),
      'par/src/a/one.txt': file('1'),
      'par/src/b': dir(),
      'par/src/b/two.txt': file('2'),
      piv: dir(),
      'piv/a': dir(),
      'piv/a/one.txt': file('1'),
      parglob: dir(),
      'parglob/src': dir(),
      'parglob/src/a': dir(),
      'parglob/src/a/one.txt': file('1'),
      'parglob/src/b': dir(),
      'parglob/src/b/two.txt': file('2'),
      // `*.md` matches at the top of the copied directory only (no `/` in `*`).
      ex: dir(),
      'ex/b.txt': file('b'),
      'ex/sub': dir(),
      'ex/sub/c.md': file('c'),
      'ex/sub/d.md': file('d'),
      ex2: dir(),
      'ex2/b.txt': file('b'),
      'here.txt': file('hello\n  world\n'),
      heredocs: dir(),
      'heredocs/one.txt': file('1\n'),
      'heredocs/two.txt': file('2\n'),
    });
    const createdBy = img.config.history.map((h: { created_by: string }) => h.created_by);
    // BuildKit's history text names --parents, --chown and --chmod, never --link or --exclude.
    expect(createdBy).toContain('COPY a.txt /linked/ # buildkit');
    expect(createdBy).toContain('COPY --chown=app b.txt /linked/ # buildkit');
    expect(createdBy).toContain('COPY --parents src/a/one.txt src/b/two.txt /par/ # buildkit');
    expect(createdBy).toContain('COPY docs /ex/ # buildkit');
    expect(createdBy).toContain('COPY <<EOF /here.txt # buildkit');
    expect(createdBy).toContain('COPY <<one.txt <<two.txt /heredocs/ # buildkit');
  });

  it('.dockerignore with ! exceptions decides what COPY . sees', async () => {
    const { tree } = await buildAndUnpack('FROM scratch\nCOPY . /ctx/\n', {}, {
      '.dockerignore': '*.log\n!keep.log\nsecret\n.dockerignore\n**/*.tmp\n',
      'app.txt': 'app',
      'drop.log': 'x',
      'keep.log': 'kept',
      'secret/key': 'k',
      'deep/er/file.tmp': 't',
      'deep/er/file.txt': 'f',
    });
    expect(tree).toEqual({
      ctx: dir(),
      'ctx/app.txt': file('app'),
      'ctx/keep.log': file('kept'),
      'ctx/deep': dir(),
      'ctx/deep/er': dir(),
      'ctx/deep/er/file.txt': file('f'),
    });
  });

  it('ARG and ENV expand in COPY sources and destinations; --build-arg overrides the default', async () => {
    const dockerfile = 'FROM scratch\nARG SRC=a.txt\nENV DEST=/env-dest\nCOPY ${SRC} $DEST/\nCOPY $SRC ${DEST}-2/copy-of-${SRC}\n';
    const first = await buildAndUnpack(dockerfile);
    expect(first.tree).toEqual({ 'env-dest': dir(), 'env-dest/a.txt': file('A'), 'env-dest-2': dir(), 'env-dest-2/copy-of-a.txt': file('A') });
    const second = await buildAndUnpack(dockerfile, { buildArgs: { SRC: 'b.txt' } });
    expect(second.tree).toEqual({ 'env-dest': dir(), 'env-dest/b.txt': file('B', '0600'), 'env-dest-2': dir(), 'env-dest-2/copy-of-b.txt': file('B', '0600') });
    // FROM scratch starts from BuildKit's empty image, whose Env has the default PATH.
    expect(second.img.config.config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'DEST=/env-dest']);
    expect(second.img.config.history.map((h: { created_by: string }) => h.created_by)).toEqual([
      'ARG SRC=b.txt',
      'ENV DEST=/env-dest',
      'COPY b.txt /env-dest/ # buildkit',
      'COPY b.txt /env-dest-2/copy-of-b.txt # buildkit',
    ]);
  });
});

describe('ADD', () => {
  let server: http.Server;
  let url: string;
  const payload = 'downloaded\n';
  const payloadSha = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  let remoteTar: Buffer;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/files/remote.tar.gz') {
        res.writeHead(200, { 'content-type': 'application/gzip' });
        res.end(remoteTar);
      } else if (req.url === '/files/payload.txt') {
        res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': 'Tue, 02 Jan 2024 03:04:05 GMT' });
        res.end(payload);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    const tmp = await makeTempDir('e2e-remote-tar-');
    await tarGz(path.join(tmp, 'r.tar.gz'));
    remoteTar = await readFile(path.join(tmp, 'r.tar.gz'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function tarGz(out: string): Promise<void> {
    const pack = tar.pack();
    const done = pipeline(pack, createGzip(), createWriteStream(out));
    const mtime = new Date(1_700_000_000_000);
    pack.entry({ name: 'pkg/', type: 'directory', mode: 0o700, uid: 5, gid: 6, mtime });
    pack.entry({ name: 'pkg/tool', type: 'file', mode: 0o750, uid: 5, gid: 6, mtime }, 'tool\n');
    pack.entry({ name: 'pkg/link', type: 'symlink', linkname: 'tool', mode: 0o777, uid: 5, gid: 6, mtime });
    pack.entry({ name: 'pkg/hard', type: 'link', linkname: 'pkg/tool', mode: 0o750, uid: 5, gid: 6, mtime });
    pack.finalize();
    await done;
  }

  it('a local tar.gz is unpacked (owners and modes from the archive), a plain file copied, a URL downloaded 0600 with --checksum', async () => {
    const ctx = await makeTempDir('e2e-add-ctx-');
    await tarGz(path.join(ctx, 'pkg.tar.gz'));
    const { tree, img, rootfs } = await buildAndUnpack(
      [
        'FROM scratch',
        'ADD pkg.tar.gz /unpacked/',
        'ADD a.txt /plain.txt',
        `ADD --checksum=${payloadSha} ${url}/files/payload.txt /dl/`,
        `ADD ${url}/files/payload.txt /dl-renamed.txt`,
        '',
      ].join('\n'),
      { context: ctx },
      { 'a.txt': { content: 'A', mode: 0o640 } },
    );
    // BuildKit's HTTP source: the file's mtime is the Last-Modified time.
    expect((await stat(path.join(rootfs, 'dl/payload.txt'))).mtime.toISOString()).toBe('2024-01-02T03:04:05.000Z');
    expect(tree).toEqual({
      unpacked: dir(),
      'unpacked/pkg': dir('0700', 5, 6),
      'unpacked/pkg/tool': { ...file('tool\n', '0750', 5, 6), nlink: 2 },
      'unpacked/pkg/hard': { ...file('tool\n', '0750', 5, 6), nlink: 2 },
      'unpacked/pkg/link': symlinkTo('tool', 5, 6),
      'plain.txt': file('A', '0640'),
      dl: dir(),
      'dl/payload.txt': file(payload, '0600'),
      'dl-renamed.txt': file(payload, '0600'),
    });
    expect(img.config.history.map((h: { created_by: string }) => h.created_by)).toEqual([
      'ADD pkg.tar.gz /unpacked/ # buildkit',
      'ADD a.txt /plain.txt # buildkit',
      `ADD ${url}/files/payload.txt /dl/ # buildkit`,
      `ADD ${url}/files/payload.txt /dl-renamed.txt # buildkit`,
    ]);
  });

  it('ADD --chown applies to every unpacked entry; a remote archive is not unpacked', async () => {
    const ctx = await makeTempDir('e2e-add-ctx-');
    await tarGz(path.join(ctx, 'pkg.tar.gz'));
    const { tree } = await buildAndUnpack(`FROM scratch\nADD --chown=7:8 pkg.tar.gz /owned/\nADD ${url}/files/remote.tar.gz /remote/\n`, { context: ctx }, {});
    expect(tree).toEqual({
      owned: dir('0755', 7, 8),
      'owned/pkg': dir('0700', 7, 8),
      'owned/pkg/tool': { ...file('tool\n', '0750', 7, 8), nlink: 2 },
      'owned/pkg/hard': { ...file('tool\n', '0750', 7, 8), nlink: 2 },
      'owned/pkg/link': symlinkTo('tool', 7, 8),
      remote: dir(),
      'remote/remote.tar.gz': { type: 'file', mode: '0600', uid: 0, gid: 0, content: tree['remote/remote.tar.gz']?.content ?? '' },
    });
    expect(tree['remote/remote.tar.gz']!.content).toMatch(/^(<\d+ bytes>|\u001f)/);
  });

  it('only real archives are unpacked (BuildKit isArchivePath): bzip2 and xz tars are; a gzip of text, a fake or empty .tar are copied', async () => {
    const src = await makeTempDir('e2e-add-tar-src-');
    await writeTree(src, { 'd/f': 'hi\n' });
    const plainTar = execFileSync('tar', ['-C', src, '--owner=0', '--group=0', '-cf', '-', 'd']);
    const gzText = gzipSync('hello world\n');
    const files: Tree = {
      'data.gz': gzText,
      'fake.tar': 'not a tar',
      'empty.tar': Buffer.alloc(1024),
      'a.tar.bz2': execFileSync('bzip2', ['-c'], { input: plainTar }),
      'a.tar.xz': execFileSync('xz', ['-c'], { input: plainTar }),
    };
    const { tree } = await buildAndUnpack('FROM scratch\nADD data.gz fake.tar empty.tar /x/\nADD a.tar.bz2 /bz/\nADD a.tar.xz /xz/\n', {}, files);
    expect(Object.keys(tree)).toEqual(['bz', 'bz/d', 'bz/d/f', 'x', 'x/data.gz', 'x/empty.tar', 'x/fake.tar', 'xz', 'xz/d', 'xz/d/f']);
    expect(tree['bz/d/f']).toEqual(file('hi\n'));
    expect(tree['xz/d/f']).toEqual(file('hi\n'));
    expect(tree['x/fake.tar']).toEqual(file('not a tar'));
    expect(tree['x/data.gz']).toEqual(file(gzText.toString('utf8')));
    expect(tree['x/empty.tar']).toEqual(file('\0'.repeat(1024)));
  });

  it('a wrong --checksum fails the build and names both digests', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = await buildImage({ dockerfile: `FROM scratch\nADD --checksum=${wrong} ${url}/files/payload.txt /dl/\n`, files: {}, cacheDir }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(wrong);
    expect((err as Error).message).toContain(payloadSha);
  });
});

describe('COPY --from', () => {
  it('a stage (owners preserved), a stage index, an image; --target skips unrelated stages', async () => {
    const { tree, img } = await buildAndUnpack(
      [
        'FROM base AS build',
        'COPY --chown=1000:1000 a.txt /out/owned.txt',
        'COPY --chmod=700 run.sh /out/',
        'COPY dir /out/dir',
        '',
        'FROM scratch AS second',
        'COPY --from=build /out /fromstage/',
        'COPY --from=0 /etc/passwd /passwd',
        'COPY --from=0 /home /home',
        'COPY --from=bbimage /bin/busybox /bb',
        'COPY --from=bbimage /usr/bin/env /env-link',
        'ENV X=1',
        '',
        'FROM scratch AS broken',
        'COPY does-not-exist /x',
        '',
      ].join('\n'),
      { target: 'second', buildContexts: [base, { name: 'bbimage', kind: 'oci-layout', dir: busybox.layoutDir, tag: 'latest' }] },
    );
    const bbSize = (tree['bb'] as TreeEntryInfo).content;
    expect(tree).toEqual({
      fromstage: dir(),
      'fromstage/owned.txt': file('A', '0644', 1000, 1000),
      'fromstage/run.sh': file('#!/bin/sh\n', '0700'),
      'fromstage/dir': dir(),
      'fromstage/dir/x': file('X', '0640'),
      'fromstage/dir/sub': dir(),
      'fromstage/dir/sub/y': file('Y'),
      'fromstage/dir/link': symlinkTo('x'),
      passwd: file(PASSWD),
      home: dir(),
      'home/app': dir('0755', 1000, 1000),
      bb: file(bbSize!, '0755'),
      // COPY follows a symlink named as the source (FollowSymlink in BuildKit's CopyInfo).
      'env-link': file(bbSize!, '0755'),
    });
    expect(bbSize).toMatch(/^<\d+ bytes>$/);
    expect(img.config.history.map((h: { created_by: string }) => h.created_by)).toEqual([
      'COPY /out /fromstage/ # buildkit',
      'COPY /etc/passwd /passwd # buildkit',
      'COPY /home /home # buildkit',
      'COPY /bin/busybox /bb # buildkit',
      'COPY /usr/bin/env /env-link # buildkit',
      'ENV X=1',
    ]);
    expect(img.config.rootfs.diff_ids).toHaveLength(5);
  });
});
