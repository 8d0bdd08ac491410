/**
 * The runtime state dir: on tmpfs, private to the user, and back on the cache dir whenever the
 * tmpfs path is not a directory of ours that others cannot enter.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { runtimeStateDir, tmpfsStateDir } from '../src/executor/index.js';

afterAll(cleanupTempDirs);

describe('runtimeStateDir', () => {
  it('makes a 0700 dir on the tmpfs, the same for the same cache dir, another for another', async () => {
    const tmpfs = await makeTempDir('bi-shm-');
    const a = runtimeStateDir('/var/cache/a', tmpfs);
    expect(path.dirname(a)).toBe(tmpfs);
    expect(a).toBe(tmpfsStateDir('/var/cache/a', tmpfs));
    expect(lstatSync(a).mode & 0o777).toBe(0o700);
    expect(runtimeStateDir('/var/cache/a/', tmpfs)).toBe(a);
    expect(runtimeStateDir('/var/cache/b', tmpfs)).not.toBe(a);
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
