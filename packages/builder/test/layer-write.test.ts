import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, mkdir, readFile, readdir, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import xattr from '@napi-rs/xattr';
import { afterAll, describe, expect, it } from 'vitest';
import { applyLayer, LayerError, writeLayerFromDirectory, writeLayerFromEntries } from '../src/layer/index.js';
import { MediaType } from '../src/image/index.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { makeStore, run } from './layer-helpers.js';

afterAll(cleanupTempDirs);
const isRoot = process.geteuid?.() === 0;
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function sampleTree(dir: string, mtime: number): Promise<void> {
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(dir, 'usr/bin/tool'), 'binary\n');
  // chown before chmod: chown clears setuid
  if (isRoot) await lchown(join(dir, 'usr/bin/tool'), 1234, 5678);
  await chmod(join(dir, 'usr/bin/tool'), 0o4755);
  await chmod(join(dir, 'tmp'), 0o1777);
  await writeFile(join(dir, 'usr/bin/hard'), 'shared\n');
  await link(join(dir, 'usr/bin/hard'), join(dir, 'usr/bin/hard2'));
  await symlink('tool', join(dir, 'usr/bin/alias'));
  await writeFile(join(dir, 'Zfirst'), 'capital sorts before lower case');
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
  await mkdir(join(dir, long, '..'), { recursive: true });
  await writeFile(join(dir, long), 'long name');
  await writeFile(join(dir, 'ünïcødé.txt'), 'utf8 name');
  for (const p of ['usr/bin/tool', 'usr/bin/hard', 'tmp', 'usr/bin', 'usr', 'Zfirst', 'ünïcødé.txt']) await utimes(join(dir, p), mtime, mtime);
}

describe('writeLayerFromDirectory', () => {
  it('is byte-identical for the same tree in different dirs with different mtimes (clamped by sourceDateEpoch)', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const a = await makeTempDir('tree-a-');
    const b = await makeTempDir('tree-b-');
    await sampleTree(a, 1_800_000_000);
    await sampleTree(b, 1_900_000_000);
    const la = await writeLayerFromDirectory(a, store, { sourceDateEpoch: 1_700_000_000 });
    const lb = await writeLayerFromDirectory(b, store, { sourceDateEpoch: 1_700_000_000 });
    expect(lb.digest).toBe(la.digest);
    expect(lb.diffId).toBe(la.diffId);
    expect(la.mediaType).toBe(MediaType.OciLayerGzip);
    const blob = await store.getBytes(la.digest);
    expect(sha(blob)).toBe(la.digest);
    expect(blob.length).toBe(la.size);
    expect(sha(gunzipSync(blob))).toBe(la.diffId);
    // gzip header: no file name flag, mtime 0
    expect([...blob.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
    // without clamping, different mtimes give different layers
    const ua = await writeLayerFromDirectory(a, store);
    const ub = await writeLayerFromDirectory(b, store);
    expect(ua.diffId).not.toBe(ub.diffId);
  });

  it('is listed by GNU tar with the expected names, modes, owners, links and order', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const dir = await makeTempDir('tree-');
    await sampleTree(dir, 1_600_000_000);
    const layer = await writeLayerFromDirectory(dir, store, { sourceDateEpoch: 1_700_000_000 });
    const listing = await run('tar', ['--numeric-owner', '--full-time', '-tvzf', store.pathOf(layer.digest)], { env: { ...process.env, TZ: 'UTC' } });
    const lines = listing.trim().split('\n').map((l) => l.replace(/\s+/g, ' '));
    const names = lines.map((l) => l.split(' ').slice(5).join(' '));
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(80)}.txt`;
    expect(names).toEqual([
      'Zfirst',
      `${'d'.repeat(60)}/`,
      `${'d'.repeat(60)}/${'e'.repeat(60)}/`,
      long,
      'tmp/',
      'usr/',
      'usr/bin/',
      'usr/bin/alias -> tool',
      'usr/bin/hard',
      'usr/bin/hard2 link to usr/bin/hard',
      'usr/bin/tool',
      'ünïcødé.txt',
    ]);
    const byName = (n: string): string => lines[names.indexOf(n)]!;
    expect(byName('usr/bin/tool')).toMatch(new RegExp(`^-rwsr-xr-x ${isRoot ? '1234/5678' : '\\d+/\\d+'} 7 2020-09-13 12:26:40 `));
    expect(byName('tmp/')).toMatch(/^drwxrwxrwt \d+\/\d+ 0 2020-09-13 12:26:40 /);
    expect(byName('usr/bin/alias -> tool')).toMatch(/^lrwxrwxrwx /);
    expect(byName('usr/bin/hard2 link to usr/bin/hard')).toMatch(/^hrw-r--r-- /);
    // round trip through GNU tar extraction
    const out = await makeTempDir('gnu-x-');
    await run('tar', ['-xzf', store.pathOf(layer.digest), '-C', out]);
    expect(await readFile(join(out, long), 'utf8')).toBe('long name');
    expect(await readFile(join(out, 'ünïcødé.txt'), 'utf8')).toBe('utf8 name');
    // and through our own extractor
    const ours = await makeTempDir('apply-x-');
    await applyLayer(ours, store.get(layer.digest));
    expect(await readFile(join(ours, long), 'utf8')).toBe('long name');
    expect((await stat(join(ours, 'usr/bin/hard2'))).ino).toBe((await stat(join(ours, 'usr/bin/hard'))).ino);
    expect((await stat(join(ours, 'usr/bin/tool'))).mode & 0o7777).toBe(0o4755);
    expect(await readlink(join(ours, 'usr/bin/alias'))).toBe('tool');
    expect((await stat(join(ours, 'usr/bin/tool'))).mtimeMs).toBe(1_600_000_000_000);
  });

  it('carries security.capability as raw PAX bytes, user xattrs only with xattrs: all, and drops excluded paths', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const dir = await makeTempDir('tree-');
    await writeFile(join(dir, 'ping'), 'ping');
    await writeFile(join(dir, 'plain'), 'plain');
    await mkdir(join(dir, 'run/secrets'), { recursive: true });
    await writeFile(join(dir, 'run/secrets/token'), 'secret');
    await writeFile(join(dir, 'stub'), '');
    // VFS_CAP_REVISION_2, cap_setuid (bit 7: a byte >= 0x80, which UTF-8 text would corrupt)
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let capSet = true;
    try {
      xattr.setAttributeSync(join(dir, 'ping'), 'security.capability', cap);
    } catch {
      capSet = false;
    }
    xattr.setAttributeSync(join(dir, 'plain'), 'user.note', 'hi');
    const layer = await writeLayerFromDirectory(dir, store, { exclude: new Set(['run/secrets', 'stub']) });
    const tarBytes = gunzipSync(await store.getBytes(layer.digest));
    if (capSet) expect(tarBytes.includes(Buffer.concat([Buffer.from('SCHILY.xattr.security.capability='), cap, Buffer.from('\n')]))).toBe(true);
    expect(tarBytes.includes(Buffer.from('user.note'))).toBe(false);
    expect(tarBytes.includes(Buffer.from('secret'))).toBe(false);
    const listing = await run('tar', ['-tzf', store.pathOf(layer.digest)]);
    expect(listing.trim().split('\n')).toEqual(['ping', 'plain', 'run/']);
    if (capSet) {
      // the reader (tar-stream) decodes PAX values as UTF-8: a binary capability is skipped with a warning, never set damaged
      const warnings: string[] = [];
      await applyLayer(await makeTempDir('cap-'), store.get(layer.digest), { onWarning: (w) => warnings.push(`${w.code} ${w.path}`) });
      expect(warnings).toEqual(['W_LAYER_XATTR_SKIPPED /ping']);
    }
    const all = await writeLayerFromDirectory(dir, store, { xattrs: 'all', exclude: new Set(['run']) });
    const allTar = gunzipSync(await store.getBytes(all.digest));
    expect(allTar.includes(Buffer.from('SCHILY.xattr.user.note=hi\n'))).toBe(true);
    const back = await makeTempDir('x-');
    await applyLayer(back, store.get(all.digest));
    expect(xattr.getAttributeSync(join(back, 'plain'), 'user.note')?.toString()).toBe('hi');
  });

  it('converts a 200 MB directory with bounded memory (never buffers a layer)', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const dir = await makeTempDir('big-');
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let f = 0; f < 4; f++) {
      await pipeline(
        Readable.from((function* () {
          for (let i = 0; i < 50; i++) yield block;
        })()),
        createWriteStream(join(dir, `part${f}.bin`)),
      );
    }
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const started = Date.now();
    const layer = await writeLayerFromDirectory(dir, store, { compressionLevel: 1 });
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMb = (peak - before) / 1024 / 1024;
    console.log(`200 MB layer: ${Date.now() - started} ms, peak RSS growth ${growthMb.toFixed(1)} MB, blob ${(layer.size / 1e6).toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(100);
    expect(layer.entries).toBe(4);
    const st = await lstat(store.pathOf(layer.digest));
    expect(st.size).toBe(layer.size);
  }, 180_000);

  it('fails with E_LAYER_ENTRY_SIZE when a body does not match its header', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const err = await writeLayerFromEntries([{ header: { name: 'f', type: 'file', mode: 0o644, size: 10 }, body: Readable.from([Buffer.from('short')]) }], store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerError);
    expect((err as LayerError).code).toBe('E_LAYER_ENTRY_SIZE');
  });
});

describe('writeLayerFromEntries', () => {
  it('writes caller-made entries (uncompressed: digest = diffId), normalizing names and clamping mtimes', async () => {
    const store = makeStore(await makeTempDir('store-'));
    const layer = await writeLayerFromEntries(
      [
        { header: { name: '/app/', type: 'directory', mode: 0o755, mtime: 2_000_000_000 } },
        { header: { name: './app/hello.txt', type: 'file', mode: 0o644, size: 3, uid: 1000, gid: 1000, mtime: 5 }, body: Readable.from([Buffer.from('hi\n')]) },
      ],
      store,
      { compression: 'none', sourceDateEpoch: 1_000_000_000, mediaTypes: 'docker' },
    );
    expect(layer.digest).toBe(layer.diffId);
    expect(layer.mediaType).toBe(MediaType.DockerLayer);
    const listing = await run('tar', ['--numeric-owner', '--full-time', '-tvf', store.pathOf(layer.digest)], { env: { ...process.env, TZ: 'UTC' } });
    expect(listing.replace(/ +/g, ' ').trim().split('\n')).toEqual(['drwxr-xr-x 0/0 0 2001-09-09 01:46:40 app/', '-rw-r--r-- 1000/1000 3 1970-01-01 00:00:05 app/hello.txt']);
  });
});

describe.skipIf(!isRoot)('overlayfs upper dir → layer', () => {
  it('turns deletions, an opaque dir, chmod and a hardlink into .wh. entries and tar links', async () => {
    const base = await makeTempDir('ovl-');
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(base, d)) as [string, string, string, string];
    for (const d of [lower, upper, work, merged]) await mkdir(d);
    await mkdir(join(lower, 'deldir/sub'), { recursive: true });
    await writeFile(join(lower, 'deldir/sub/x'), 'x');
    await mkdir(join(lower, 'opq'));
    await writeFile(join(lower, 'opq/old.txt'), 'old');
    await writeFile(join(lower, 'del.txt'), 'gone');
    await writeFile(join(lower, 'keep.txt'), 'keep');
    await writeFile(join(lower, 'mode.txt'), 'mode');
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,index=off,metacopy=off`, merged]);
    try {
      await rm(join(merged, 'del.txt'));
      await rm(join(merged, 'deldir'), { recursive: true });
      await rm(join(merged, 'opq'), { recursive: true });
      await mkdir(join(merged, 'opq'));
      await writeFile(join(merged, 'opq/new.txt'), 'new');
      await chmod(join(merged, 'mode.txt'), 0o600);
      await writeFile(join(merged, 'added.txt'), 'added');
      await link(join(merged, 'added.txt'), join(merged, 'added-link.txt'));
    } finally {
      await run('umount', [merged]);
    }
    expect(xattr.getAttributeSync(join(upper, 'opq'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    const store = makeStore(await makeTempDir('store-'));
    const layer = await writeLayerFromDirectory(upper, store, { overlay: 'root', sourceDateEpoch: 0 });
    const listing = await run('tar', ['--numeric-owner', '-tvzf', store.pathOf(layer.digest)]);
    const rows = listing.trim().split('\n').map((l) => {
      const parts = l.trim().split(/\s+/);
      return `${parts[0]} ${parts.slice(5).join(' ')}`;
    });
    expect(rows).toEqual([
      '---------- .wh.del.txt',
      '---------- .wh.deldir',
      '-rw-r--r-- added-link.txt',
      'hrw-r--r-- added.txt link to added-link.txt',
      '-rw------- mode.txt',
      'drwxr-xr-x opq/',
      '---------- opq/.wh..wh..opq',
      '-rw-r--r-- opq/new.txt',
    ]);
    const tarBytes = gunzipSync(await store.getBytes(layer.digest));
    expect(tarBytes.includes(Buffer.from('overlay'))).toBe(false);
    // lower + layer applied == what the merged view showed
    const rootfs = await makeTempDir('ovl-apply-');
    const lowerLayer = await writeLayerFromDirectory(lower, store);
    await applyLayer(rootfs, store.get(lowerLayer.digest));
    await applyLayer(rootfs, store.get(layer.digest));
    const names = async (d: string): Promise<string[]> => (await readdir(d, { recursive: true })).map(String).sort();
    expect(await names(rootfs)).toEqual(['added-link.txt', 'added.txt', 'keep.txt', 'mode.txt', 'opq', 'opq/new.txt']);
    expect((await stat(join(rootfs, 'mode.txt'))).mode & 0o777).toBe(0o600);
  });

  it('rejects redirect and metacopy xattrs', async () => {
    const dir = await makeTempDir('ovl-redirect-');
    await mkdir(join(dir, 'moved'));
    xattr.setAttributeSync(join(dir, 'moved'), 'trusted.overlay.redirect', '/orig');
    const store = makeStore(await makeTempDir('store-'));
    const err = await writeLayerFromDirectory(dir, store, { overlay: 'root' }).catch((e: unknown) => e);
    expect((err as LayerError).code).toBe('E_LAYER_OVERLAY_UNSUPPORTED');
  });
});
