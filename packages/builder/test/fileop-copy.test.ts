import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, writeFile, symlink, readlink, lstat, readFile, rm, chmod, utimes, link, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { copyIntoRoot } from '../src/fileop/copy.js';
import { parseChmod } from '@build-image/parser';
import { applyChmod } from '../src/fileop/mode.js';
import { resolveInRoot } from '../src/rootfs/resolve.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'bi-copy-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setup() {
  const src = await tmp();
  const dst = await tmp();
  await mkdir(path.join(src, 'dir/sub'), { recursive: true });
  await writeFile(path.join(src, 'a.txt'), 'A');
  await writeFile(path.join(src, 'dir/b.txt'), 'B');
  await writeFile(path.join(src, 'dir/sub/c.sh'), 'C');
  await chmod(path.join(src, 'dir/sub/c.sh'), 0o755);
  await symlink('b.txt', path.join(src, 'dir/link'));
  return { src, dst };
}

const base = { copyDirContents: true, followSymlinks: true, preserveOwner: false } as const;

describe('copyIntoRoot (BuildKit FileOp copy semantics)', () => {
  it('copies a file to a path, into an existing dir, and into a trailing-slash dir', async () => {
    const { src, dst } = await setup();
    await copyIntoRoot({ ...base, srcRoot: src, src: '/a.txt', destRoot: dst, dest: '/x' });
    expect(await readFile(path.join(dst, 'x'), 'utf8')).toBe('A');
    await copyIntoRoot({ ...base, srcRoot: src, src: '/a.txt', destRoot: dst, dest: '/new/dir/' });
    expect(await readFile(path.join(dst, 'new/dir/a.txt'), 'utf8')).toBe('A');
    expect((await lstat(path.join(dst, 'new'))).mode & 0o7777).toBe(0o755);
    await copyIntoRoot({ ...base, srcRoot: src, src: '/a.txt', destRoot: dst, dest: '/new' });
    expect(await readFile(path.join(dst, 'new/a.txt'), 'utf8')).toBe('A');
  });

  it('copies directory contents, keeps symlinks, modes and mtimes, owner 0:0 for the context', async () => {
    const { src, dst } = await setup();
    await utimes(path.join(src, 'dir/b.txt'), 1000, 1_000_000);
    await copyIntoRoot({ ...base, srcRoot: src, src: '/dir', destRoot: dst, dest: '/app' });
    expect((await readdir(path.join(dst, 'app'))).sort()).toEqual(['b.txt', 'link', 'sub']);
    expect(await readlink(path.join(dst, 'app/link'))).toBe('b.txt');
    const c = await lstat(path.join(dst, 'app/sub/c.sh'));
    expect(c.mode & 0o7777).toBe(0o755);
    expect([c.uid, c.gid]).toEqual([0, 0]);
    expect(Math.floor((await lstat(path.join(dst, 'app/b.txt'))).mtimeMs / 1000)).toBe(1_000_000);
  });

  it('applies --chown and --chmod (octal and symbolic) to files and created dirs', async () => {
    const { src, dst } = await setup();
    await copyIntoRoot({ ...base, srcRoot: src, src: '/dir', destRoot: dst, dest: '/o/', owner: { uid: 1000, gid: 1001 }, mode: parseChmod('0640') });
    const b = await lstat(path.join(dst, 'o/b.txt'));
    expect([b.uid, b.gid, b.mode & 0o7777]).toEqual([1000, 1001, 0o640]);
    const o = await lstat(path.join(dst, 'o'));
    expect([o.uid, o.gid]).toEqual([1000, 1001]);
    await copyIntoRoot({ ...base, srcRoot: src, src: '/dir', destRoot: dst, dest: '/s', mode: parseChmod('go-rwx,u+x') });
    expect((await lstat(path.join(dst, 's/b.txt'))).mode & 0o7777).toBe(0o700);
  });

  it('keeps hardlinks inside the copied tree', async () => {
    const { src, dst } = await setup();
    await link(path.join(src, 'dir/b.txt'), path.join(src, 'dir/hard'));
    await copyIntoRoot({ ...base, srcRoot: src, src: '/dir', destRoot: dst, dest: '/h' });
    const [x, y] = await Promise.all([lstat(path.join(dst, 'h/b.txt')), lstat(path.join(dst, 'h/hard'))]);
    expect(x.ino).toBe(y.ino);
  });

  it('never writes outside the destination root through a symlink in the rootfs', async () => {
    const { src, dst } = await setup();
    const outside = await tmp();
    await symlink(outside, path.join(dst, 'evil'));
    await copyIntoRoot({ ...base, srcRoot: src, src: '/a.txt', destRoot: dst, dest: '/evil/' });
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(path.join(dst, outside, 'a.txt'), 'utf8')).toBe('A');
  });

  it('never reads outside the source root through a symlink', async () => {
    const { src, dst } = await setup();
    const outside = await tmp();
    await writeFile(path.join(outside, 'secret'), 'S');
    await symlink(path.join(outside, 'secret'), path.join(src, 'leak'));
    await expect(copyIntoRoot({ ...base, srcRoot: src, src: '/leak', destRoot: dst, dest: '/l' })).rejects.toMatchObject({ code: 'E_SOURCE_NOT_FOUND' });
  });

  it('filters entries and creates excluded parents only when something below is copied', async () => {
    const { src, dst } = await setup();
    await copyIntoRoot({
      ...base, srcRoot: src, src: '/', destRoot: dst, dest: '/f',
      filter: ({ rel, isDir }) => (rel.startsWith('dir') && rel !== 'dir/sub/c.sh' ? { include: false, descend: isDir } : { include: true, descend: true }),
    });
    expect((await readdir(path.join(dst, 'f'))).sort()).toEqual(['a.txt', 'dir']);
    expect(await readdir(path.join(dst, 'f/dir'))).toEqual(['sub']);
    expect(await readdir(path.join(dst, 'f/dir/sub'))).toEqual(['c.sh']);
  });
});

describe('mode specs', () => {
  it('applies octal and symbolic modes like chmod(1) with umask 0', () => {
    expect(applyChmod(parseChmod('755'), 0o600, false)).toBe(0o755);
    expect(applyChmod(parseChmod('u+x'), 0o644, false)).toBe(0o744);
    expect(applyChmod(parseChmod('a=rX'), 0o600, true)).toBe(0o555);
    expect(applyChmod(parseChmod('a=rX'), 0o600, false)).toBe(0o444);
    expect(applyChmod(parseChmod('g=u'), 0o700, false)).toBe(0o770);
  });
});

describe('resolveInRoot', () => {
  it('re-roots absolute links and clamps ..', async () => {
    const root = await tmp();
    await mkdir(path.join(root, 'a'));
    await symlink('/a', path.join(root, 'abs'));
    await symlink('../../../..', path.join(root, 'a/up'));
    expect(await resolveInRoot(root, '/abs/x')).toBe(path.join(root, 'a/x'));
    expect(await resolveInRoot(root, '/a/up/etc/passwd')).toBe(path.join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/../../etc')).toBe(path.join(root, 'etc'));
  });
});
