/**
 * The runtime state dir: on tmpfs, private to the user, and back on the cache dir whenever the
 * tmpfs path is not a directory of ours that others cannot enter.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { ensureStateDir, removeStateDir, runtimeStateDir, tmpfsStateDir } from '../src/executor/index.js';

afterAll(cleanupTempDirs);

describe('runtimeStateDir', () => {
  it('picks a dir on the tmpfs, the same for the same cache dir, another for another, and creates nothing', async () => {
    const tmpfs = await makeTempDir('bi-shm-');
    const a = runtimeStateDir('/var/cache/a', tmpfs);
    expect(path.dirname(a)).toBe(tmpfs);
    expect(a).toBe(tmpfsStateDir('/var/cache/a', tmpfs));
    expect(existsSync(a)).toBe(false);
    expect(runtimeStateDir('/var/cache/a/', tmpfs)).toBe(a);
    expect(runtimeStateDir('/var/cache/b', tmpfs)).not.toBe(a);
    // Once made (0700, by ensureStateDir), it is still the one chosen.
    ensureStateDir(a);
    expect(lstatSync(a).mode & 0o777).toBe(0o700);
    expect(runtimeStateDir('/var/cache/a', tmpfs)).toBe(a);
  });

  it('falls back to <cache>/runtime when the tmpfs is missing or the dir is not ours and private', async () => {
    const tmpfs = await makeTempDir('bi-shm-');
    expect(runtimeStateDir('/c0', path.join(tmpfs, 'missing'))).toBe('/c0/runtime');
    // Open to others.
    mkdirSync(tmpfsStateDir('/c1', tmpfs));
    chmodSync(tmpfsStateDir('/c1', tmpfs), 0o777);
    expect(runtimeStateDir('/c1', tmpfs)).toBe('/c1/runtime');
    // A symlink someone planted.
    symlinkSync(tmpfs, tmpfsStateDir('/c2', tmpfs));
    expect(runtimeStateDir('/c2', tmpfs)).toBe('/c2/runtime');
    if (process.getuid?.() === 0) {
      // Owned by another user.
      mkdirSync(tmpfsStateDir('/c3', tmpfs), { mode: 0o700 });
      chownSync(tmpfsStateDir('/c3', tmpfs), 4321, 4321);
      expect(runtimeStateDir('/c3', tmpfs)).toBe('/c3/runtime');
    }
  });
});

describe('ensureStateDir / removeStateDir', () => {
  it('makes the dir 0700 (also an old one left open by the umask) and refuses one that is not ours', async () => {
    const root = await makeTempDir('bi-state-');
    const fresh = path.join(root, 'cache', 'runtime');
    ensureStateDir(fresh);
    expect(lstatSync(fresh).mode & 0o777).toBe(0o700);
    const old = path.join(root, 'old');
    mkdirSync(old, { mode: 0o755 });
    chmodSync(old, 0o755);
    ensureStateDir(old);
    expect(lstatSync(old).mode & 0o777).toBe(0o700);
    const link = path.join(root, 'link');
    symlinkSync(fresh, link);
    expect(() => ensureStateDir(link)).toThrow(/not a directory owned by this user/);
    if (process.getuid?.() === 0) {
      const theirs = path.join(root, 'theirs');
      mkdirSync(theirs, { mode: 0o700 });
      chownSync(theirs, 4321, 4321);
      expect(() => ensureStateDir(theirs)).toThrow(`the runtime state dir ${theirs} is not a directory owned by this user`);
    }
  });

  it('removes the dir and its empty subdirs, and keeps anything still in use', async () => {
    const root = await makeTempDir('bi-state-');
    const idle = path.join(root, 'idle');
    mkdirSync(path.join(idle, 'runs'), { recursive: true });
    mkdirSync(path.join(idle, 'runc'));
    removeStateDir(idle, ['runs', 'runc']);
    expect(existsSync(idle)).toBe(false);
    const busy = path.join(root, 'busy');
    mkdirSync(path.join(busy, 'runs', 'bi-1', 'bundle'), { recursive: true });
    writeFileSync(path.join(busy, 'runs', 'bi-1', 'bundle', 'config.json'), '{}');
    mkdirSync(path.join(busy, 'runc'));
    removeStateDir(busy, ['runs', 'runc']);
    expect(existsSync(path.join(busy, 'runs', 'bi-1', 'bundle', 'config.json'))).toBe(true);
    expect(existsSync(path.join(busy, 'runc'))).toBe(false);
    // Gone already: nothing to do, no error.
    removeStateDir(idle, ['runs']);
  });
});
