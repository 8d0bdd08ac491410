/**
 * End to end: hostile Dockerfiles, contexts and archives. Each build must either fail with a clear
 * error or keep everything inside its own root filesystem, as BuildKit does (sources resolved
 * inside the context root, destinations inside the rootfs, archives unpacked with go-archive's
 * breakout checks); a sentinel directory outside stays byte-for-byte untouched and the secret
 * it holds never reaches the cache or an image.
 */
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildImage, dir, file, listTree, symlinkTo, unpackLayout, type TreeEntryInfo } from './helpers/e2e.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';

const SECRET = 'TOP-SECRET-4d1f0c9e';
let sentinel: string;
let sentinelBefore: Record<string, TreeEntryInfo>;
let cacheDir: string;

beforeAll(async () => {
  cacheDir = await makeTempDir('e2e-sec-cache-');
});
beforeEach(async () => {
  sentinel = await makeTempDir('e2e-sentinel-');
  await writeTree(sentinel, { secret: SECRET, 'sub/inner': SECRET });
  sentinelBefore = await listTree(sentinel);
});
afterEach(async () => {
  // Nothing was added, removed or changed outside.
  expect(await listTree(sentinel)).toEqual(sentinelBefore);
  expect((await lstat(path.dirname(sentinel))).isDirectory()).toBe(true);
  expect(await readdir(path.dirname(sentinel))).not.toContain('pwned');
});
afterAll(cleanupTempDirs);

/** Every regular file under `root` that contains the secret (the cache must hold none). */
async function filesWithSecret(root: string): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = path.join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
      else if (st.isFile() && st.size < 16 << 20 && (await readFile(p)).includes(SECRET)) hits.push(p);
    }
  };
  await walk(root);
  return hits;
}

describe('sources that leave the context', () => {
  it('COPY ../x is refused with a clear error; the outside file is never read', async () => {
    // The sibling the path names exists outside the context; the context has no x.
    const parent = await makeTempDir('e2e-sec-parent-');
    const ctx = path.join(parent, 'ctx');
    await writeTree(parent, { x: SECRET, 'ctx/a.txt': 'a' });
    const err = await buildImage({ context: ctx, cacheDir, dockerfile: 'FROM scratch\nCOPY ../x /x\n' }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/x/);
    expect((err as Error).message).toMatch(/outside the build context/);
    // build-image refuses the climb outright (E_CONTEXT_ESCAPE), even when the context has an x;
    // BuildKit would clean ../x to /x and copy the context's x (see the report).
    expect((err as Error & { code?: string }).code).toBe('E_CONTEXT_ESCAPE');
    expect(await filesWithSecret(cacheDir)).toEqual([]);
  });

  it('a context symlink pointing outside, as the source and as a directory in the middle of a path: not found, nothing read', async () => {
    const ctx = await makeTempDir('e2e-sec-ctx-');
    const rel = path.relative(ctx, sentinel);
    await writeTree(ctx, {
      'abs-file': { symlink: path.join(sentinel, 'secret') },
      'abs-dir': { symlink: sentinel },
      'rel-dir': { symlink: rel },
      'a.txt': 'a',
    });
    for (const src of ['abs-file', 'abs-dir/secret', 'rel-dir/secret', 'abs-dir/sub/inner', 'abs-dir']) {
      const err = await buildImage({ context: ctx, cacheDir, dockerfile: `FROM scratch\nCOPY ${src} /out\n` }).catch((e: Error) => e);
      expect(err, src).toBeInstanceOf(Error);
      expect((err as Error).message, src).toMatch(/not found|does not exist|outside/i);
    }
    // Copying the directory that holds the links copies them as links, verbatim.
    const ok = await buildImage({ context: ctx, cacheDir, dockerfile: 'FROM scratch\nCOPY . /ctx/\n' });
    expect(await listTree((await unpackLayout(ok.layoutDir)).rootfs)).toEqual({
      ctx: dir(),
      'ctx/a.txt': file('a'),
      'ctx/abs-file': symlinkTo(path.join(sentinel, 'secret')),
      'ctx/abs-dir': symlinkTo(sentinel),
      'ctx/rel-dir': symlinkTo(rel),
    });
    expect(await filesWithSecret(cacheDir)).toEqual([]);
  });
});

describe('destinations through symlinks in the root filesystem', () => {
  it('COPY into a path through an absolute (and a climbing relative) symlink lands inside the rootfs', async () => {
    const ctx = await makeTempDir('e2e-sec-dest-');
    const climb = '../'.repeat(20) + sentinel.slice(1);
    await writeTree(ctx, { 'links/abs': { symlink: sentinel }, 'links/up': { symlink: climb }, 'pwned': 'pwned' });
    const built = await buildImage({
      context: ctx,
      cacheDir,
      dockerfile: 'FROM scratch\nCOPY links/ /\nCOPY pwned /abs/pwned\nCOPY pwned /up/sub/pwned2\nWORKDIR /abs/wd\n',
    });
    const tree = await listTree((await unpackLayout(built.layoutDir)).rootfs);
    const inside = sentinel.slice(1); // the sentinel's path, re-rooted in the image
    expect(tree['abs']).toEqual(symlinkTo(sentinel));
    expect(tree['up']).toEqual(symlinkTo(climb));
    expect(tree[`${inside}/pwned`]).toEqual(file('pwned'));
    expect(tree[`${inside}/sub/pwned2`]).toEqual(file('pwned'));
    expect(tree[`${inside}/wd`]).toEqual(dir());
    expect(tree[`${inside}/secret`]).toBeUndefined();
  });
});

describe('ADD of hostile archives', () => {
  async function writeTar(out: string, entries: Array<Parameters<tar.Pack['entry']>[0] & { body?: string }>): Promise<void> {
    const pack = tar.pack();
    const done = pipeline(pack, createWriteStream(out));
    for (const { body, ...h } of entries) pack.entry({ mode: 0o644, mtime: new Date(0), ...h } as Parameters<tar.Pack['entry']>[0], body ?? '');
    pack.finalize();
    await done;
  }

  // BuildKit unpacks with go-archive chrooted into the destination, so inside the chroot the
  // destination is `/`: `../` climbs stop there, and links resolve inside it.
  it('../ entries are clamped to the ADD destination (chrooted go-archive), never written outside', async () => {
    const ctx = await makeTempDir('e2e-sec-tar-');
    await writeTar(path.join(ctx, 'evil.tar'), [
      { name: 'ok.txt', body: 'ok' },
      { name: '../'.repeat(20) + sentinel.slice(1) + '/pwned', body: 'pwned' },
      { name: '../'.repeat(20) + 'pwned', body: 'pwned' },
    ]);
    const r = await buildImage({ context: ctx, cacheDir, dockerfile: 'FROM scratch\nADD evil.tar /x/\n' });
    const tree = await listTree((await unpackLayout(r.layoutDir)).rootfs);
    const inside = sentinel.slice(1);
    const expected: Record<string, TreeEntryInfo> = { x: dir(), 'x/ok.txt': file('ok'), 'x/pwned': file('pwned'), [`x/${inside}/pwned`]: file('pwned') };
    for (let d = path.dirname(inside); d !== '.'; d = path.dirname(d)) expected[`x/${d}`] = dir();
    expected[`x/${inside}`] = dir();
    expect(tree).toEqual(expected);
  });

  it('entries through an absolute or climbing symlink stay inside the rootfs', async () => {
    const ctx = await makeTempDir('e2e-sec-tar-');
    const climb = '../'.repeat(20) + sentinel.slice(1);
    await writeTar(path.join(ctx, 'evil.tar'), [
      { name: 'link', type: 'symlink', linkname: sentinel },
      { name: 'link/pwned', body: 'pwned' },
      { name: 'rel', type: 'symlink', linkname: climb },
      { name: 'rel/pwned2', body: 'pwned' },
    ]);
    const r = await buildImage({ context: ctx, cacheDir, dockerfile: 'FROM scratch\nADD evil.tar /\n' });
    const tree = await listTree((await unpackLayout(r.layoutDir)).rootfs);
    const inside = sentinel.slice(1);
    expect(tree['link']).toEqual(symlinkTo(sentinel));
    expect(tree['rel']).toEqual(symlinkTo(climb));
    expect(tree[`${inside}/pwned`]).toEqual(file('pwned'));
    expect(tree[`${inside}/pwned2`]).toEqual(file('pwned'));
    expect(tree[`${inside}/secret`]).toBeUndefined();
  });

  it('a hardlink to a file outside is an error and never exposes the outside file', async () => {
    const ctx = await makeTempDir('e2e-sec-tar-');
    await writeTar(path.join(ctx, 'evil.tar'), [
      { name: 'hl', type: 'link', linkname: '../'.repeat(20) + sentinel.slice(1) + '/secret' },
      { name: 'hl-abs', type: 'link', linkname: path.join(sentinel, 'secret') },
    ]);
    // In BuildKit's chroot the link target resolves inside the destination, where it does not exist: an error.
    const r = await buildImage({ context: ctx, cacheDir, dockerfile: 'FROM scratch\nADD evil.tar /\n' }).catch((e: Error) => e);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toMatch(/hardlink "hl"/i);
    expect((r as Error).message).toMatch(/does not exist/);
    expect(await filesWithSecret(cacheDir)).toEqual([]);
  });
});

describe('--chown names the Dockerfile controls', () => {
  it('a user or group missing from the image (or an image without /etc/passwd) means 0:0, as BuildKit', async () => {
    const built = await buildImage({
      cacheDir,
      files: { 'a.txt': 'a' },
      dockerfile: 'FROM scratch\nCOPY --chown=nobody-here a.txt /a\nCOPY --chown=../../etc/passwd:nogroup a.txt /b\nCOPY --chown=7:ghost a.txt /c\n',
    });
    expect(await listTree((await unpackLayout(built.layoutDir)).rootfs)).toEqual({ a: file('a'), b: file('a'), c: file('a', '0644', 7, 7) });
  });
});
