import { execFile } from 'node:child_process';
import { readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, makeBusyboxRootfs } from '../../../test/helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';

const execFileP = promisify(execFile);
const regs: TestRegistry[] = [];
afterAll(async () => {
  await Promise.all(regs.map((r) => r.stop()));
  await cleanupTempDirs();
});

describe('busybox fixture', () => {
  it('makes a rootfs with applet symlinks, users and modes', async () => {
    const dir = await makeTempDir('bb-rootfs-');
    await makeBusyboxRootfs(dir);
    expect(await readlink(path.join(dir, 'bin/sh'))).toBe('busybox');
    expect(await readFile(path.join(dir, 'etc/passwd'), 'utf8')).toContain('app:x:1000:1000::/home/app:/bin/sh\n');
    expect((await stat(path.join(dir, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await stat(path.join(dir, 'root'))).mode & 0o7777).toBe(0o700);
    const { stdout } = await execFileP(path.join(dir, 'bin/echo'), ['hello']);
    expect(stdout).toBe('hello\n');
  });

  it('writes an OCI layout umoci and skopeo accept, deterministically', async () => {
    const a = await makeTempDir('bb-layout-');
    const img = await makeBusyboxImage({ layoutDir: a });
    expect(img.layoutDir).toBe(a);
    expect(img.config.architecture).toBe('amd64');
    expect(img.config.rootfs.diff_ids).toEqual([img.diffId]);
    const index = JSON.parse(await readFile(path.join(a, 'index.json'), 'utf8'));
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([img.manifestDigest, img.manifestDigest]);
    const { stdout } = await execFileP('skopeo', ['inspect', `oci:${a}:latest`]);
    expect(JSON.parse(stdout)).toMatchObject({ Digest: img.manifestDigest, Architecture: 'amd64', Os: 'linux', Layers: [img.layerDigest] });
    // umoci unpacks it and the layer's owners come out as declared.
    const bundle = path.join(await makeTempDir('bb-bundle-'), 'b');
    await execFileP('umoci', ['unpack', '--image', `${a}:latest`, bundle]);
    expect((await stat(path.join(bundle, 'rootfs/home/app'))).uid).toBe(1000);
    expect((await stat(path.join(bundle, 'rootfs/bin/busybox'))).mode & 0o777).toBe(0o755);
    // A second copy has the same digests (cache), and so would a rebuild (fixed mtimes, sorted).
    const b = await makeTempDir('bb-layout-');
    expect((await makeBusyboxImage({ layoutDir: b })).manifestDigest).toBe(img.manifestDigest);
  });

  it('pushes busybox:latest and busybox:1 to a registry with credentials', async () => {
    const reg = await startRegistry({ auth: 'htpasswd' });
    regs.push(reg);
    const img = await makeBusyboxImage({ registry: reg });
    expect(img.pushed).toEqual([`${reg.host}/busybox:latest`, `${reg.host}/busybox:1`]);
    const basic = 'Basic ' + Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    const res = await fetch(`${reg.url}/v2/busybox/manifests/1`, {
      method: 'HEAD',
      headers: { authorization: basic, accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(res.headers.get('docker-content-digest')).toBe(img.manifestDigest);
  });

  it('writeTree writes files, symlinks and dirs with modes', async () => {
    const dir = await makeTempDir('tree-');
    await writeTree(dir, { 'a/b.txt': 'x', link: { symlink: '../b' }, 'd/': { dir: true, mode: 0o700 }, 'x.sh': { content: 'y', mode: 0o755 } });
    expect(await readFile(path.join(dir, 'a/b.txt'), 'utf8')).toBe('x');
    expect(await readlink(path.join(dir, 'link'))).toBe('../b');
    expect((await stat(path.join(dir, 'd'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'x.sh'))).mode & 0o777).toBe(0o755);
  });
});
