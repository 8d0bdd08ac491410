/** The rootfs outputs: `type=local` (a directory) and `type=tar` (one plain tar), compared entry by entry. */
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, parseOutputSpec } from '@build-image/builder';
import { makeBusyboxImage } from './helpers/busybox-image.js';

let work: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bi-e2e-out-'));
  layout = path.join(work, 'busybox');
  await makeBusyboxImage({ layoutDir: layout });
  await mkdir(path.join(work, 'ctx'));
  await writeFile(path.join(work, 'ctx/Dockerfile'), 'FROM busybox\nCOPY --chmod=0640 a.txt /data/\nRUN ln -s /data/a.txt /data/link && rm /bin/vi\n');
  await writeFile(path.join(work, 'ctx/a.txt'), 'A');
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('rootfs outputs', () => {
  it('type=local and type=tar hold the same flattened tree (whiteouts applied, modes kept)', async () => {
    const local = path.join(work, 'rootfs');
    const tarFile = path.join(work, 'rootfs.tar');
    await build({
      context: path.join(work, 'ctx'),
      cacheDir: path.join(work, 'cache'),
      buildContexts: [{ name: 'busybox', kind: 'oci-layout', dir: layout, tag: 'latest' }],
      outputs: [parseOutputSpec(local), parseOutputSpec(`type=tar,dest=${tarFile}`)],
      sourceDateEpoch: 1700000000,
    });
    expect(await readFile(path.join(local, 'data/a.txt'), 'utf8')).toBe('A');
    expect((await lstat(path.join(local, 'data/a.txt'))).mode & 0o7777).toBe(0o640);
    expect(await readlink(path.join(local, 'data/link'))).toBe('/data/a.txt');
    await expect(lstat(path.join(local, 'bin/vi'))).rejects.toMatchObject({ code: 'ENOENT' });

    const listing = execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(listing).toMatch(/^-rw-r----- 0\/0\s+1 2023-11-14 22:13 data\/a\.txt$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0\s+0 .* data\/link -> \/data\/a\.txt$/m);
    expect(listing).not.toMatch(/ bin\/vi( |$)/m);
    expect(listing).not.toMatch(/\.wh\./);
  });
});
