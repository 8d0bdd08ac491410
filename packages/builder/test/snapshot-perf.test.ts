/**
 * The snapshot layer's speed-ups keep their results: the overlay probe is remembered on disk
 * only for the same kernel/filesystem/privileges, and the native xattr batch calls read and
 * write what overlayfs and the layer writer expect.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { overlayWorks, PROBE_FILE } from '../src/snapshot/create.js';
import { readXattrs, writeXattrs } from '../src/snapshot/index.js';

afterAll(cleanupTempDirs);
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('overlay probe cache', () => {
  it('remembers a working overlay for this kernel, filesystem and privileges', async () => {
    const root = await makeTempDir('bi-probe-');
    expect(await overlayWorks(root, false)).toBe(true);
    const saved = JSON.parse(readFileSync(path.join(root, PROBE_FILE), 'utf8'));
    expect(saved.kernel).toBe(os.release());
    expect(saved.uid).toBe(0);
    expect(saved.rootless).toBe(false);
    expect(typeof saved.fsType).toBe('number');
  });

  it('a remembered answer for another identity is not trusted: the probe runs again and rewrites it', async () => {
    const root = await makeTempDir('bi-probe-');
    writeFileSync(path.join(root, PROBE_FILE), JSON.stringify({ v: 1, kernel: 'other' }));
    // A fresh key for the in-process memo (same dir through a different spelling).
    expect(await overlayWorks(`${root}/.`, false)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(root, PROBE_FILE), 'utf8')).kernel).toBe(os.release());
  });

  it('does not remember a failing probe', async () => {
    const root = await makeTempDir('bi-probe-');
    // overlayfs refuses an upper dir on overlayfs: mount an overlay and probe inside it.
    const [l, u, w, m] = ['l', 'u', 'w', 'm'].map((d) => path.join(root, d));
    for (const d of [l, u, w, m]) mkdirSync(d!);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${l},upperdir=${u},workdir=${w}`, m!]);
    try {
      const inner = path.join(m!, 'state');
      mkdirSync(inner);
      const works = await overlayWorks(inner, false);
      let saved = true;
      try {
        readFileSync(path.join(inner, PROBE_FILE));
      } catch {
        saved = false;
      }
      expect(saved).toBe(works);
    } finally {
      execFileSync('umount', [m!]);
    }
  });
});

describe('snapshot xattr batches', () => {
  it('reads back what it wrote, per path, without following symlinks', async () => {
    const dir = await makeTempDir('bi-xattr-');
    const file = path.join(dir, 'f');
    writeFileSync(file, 'x');
    symlinkSync('f', path.join(dir, 'link'));
    await writeXattrs([
      { path: file, name: 'user.a', value: 'y' },
      { path: file, name: 'user.b', value: Buffer.from([0, 255, 1]) },
    ]);
    const got = await readXattrs([file, path.join(dir, 'link'), path.join(dir, 'missing')]);
    expect(got.get(file)?.['user.a']?.toString()).toBe('y');
    expect([...(got.get(file)?.['user.b'] ?? [])]).toEqual([0, 255, 1]);
    expect(got.get(path.join(dir, 'link'))).toEqual({});
    expect(got.get(path.join(dir, 'missing'))).toEqual({});
  });

  it('a failed write names the path and attribute', async () => {
    const dir = await makeTempDir('bi-xattr-');
    await expect(writeXattrs([{ path: path.join(dir, 'missing'), name: 'user.a', value: 'y' }])).rejects.toThrow(/user\.a on .*missing/);
  });
});
