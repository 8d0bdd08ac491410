import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import xattr from '@napi-rs/xattr';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, LayerError, type LayerWarning } from '../src/layer/index.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { run } from './layer-helpers.js';

afterAll(cleanupTempDirs);
const isRoot = process.geteuid?.() === 0;

type Spec = { header: Partial<tar.Header> & { name: string; pax?: Record<string, string> }; content?: string };

/** A hand-made tar (tar-stream's packer: exactly the names we give it, however malicious). */
async function makeTar(entries: Spec[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const h = { mtime: new Date(1_600_000_000_000), ...e.header } as tar.Header;
      if (e.content !== undefined) pack.entry(h, e.content, (err) => (err ? reject(err) : resolve()));
      else pack.entry(h, (err) => (err ? reject(err) : resolve())).end(undefined);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function listTree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(dir, p));
    out.push(st.isDirectory() ? `${p}/` : st.isSymbolicLink() ? `${p} -> ${await readlink(join(dir, p))}` : `${p}`);
    if (st.isDirectory()) out.push(...(await listTree(dir, p)));
  }
  return out;
}

describe('applyLayer: regular content', () => {
  let root: string;
  beforeEach(async () => {
    root = join(await makeTempDir('apply-'), 'rootfs');
  });

  it('extracts files, dirs, symlinks, hardlinks with modes, owners, mtimes and xattrs (gzip)', async () => {
    const layer = await makeTar([
      { header: { name: 'bin/', type: 'directory', mode: 0o755, mtime: new Date(1_500_000_000_000) } },
      { header: { name: 'bin/tool', mode: 0o4755, uid: 1234, gid: 5678, pax: { 'SCHILY.xattr.user.origin': 'layer' } }, content: 'tool\n' },
      // hardlink headers carry the inode's metadata (as GNU tar and Go write them); it is applied to the shared inode
      { header: { name: 'bin/tool-link', type: 'link', linkname: 'bin/tool', mode: 0o4755, uid: 1234, gid: 5678 } },
      { header: { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8 } },
      { header: { name: 'tmp/', type: 'directory', mode: 0o1777 } },
      { header: { name: 'etc/motd', mode: 0o600, mtime: new Date(1_234_567_890_000) }, content: 'hello' },
    ]);
    const result = await applyLayer(root, Readable.from([gzipSync(layer)]));
    expect(result).toEqual({ entries: 6, size: 10 });
    expect(await listTree(root)).toEqual(['bin/', 'bin/sh -> /bin/busybox', 'bin/tool', 'bin/tool-link', 'etc/', 'etc/motd', 'tmp/']);
    const tool = await stat(join(root, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.nlink).toBe(2);
    expect((await stat(join(root, 'bin/tool-link'))).ino).toBe(tool.ino);
    expect((await stat(join(root, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await stat(join(root, 'etc/motd'))).mode & 0o7777).toBe(0o600);
    expect((await stat(join(root, 'etc/motd'))).mtimeMs).toBe(1_234_567_890_000);
    expect((await stat(join(root, 'bin'))).mtimeMs).toBe(1_500_000_000_000);
    expect(await readFile(join(root, 'etc/motd'), 'utf8')).toBe('hello');
    expect(xattr.getAttributeSync(join(root, 'bin/tool'), 'user.origin')?.toString()).toBe('layer');
    // implicit parent created with 0755
    expect((await stat(join(root, 'etc'))).mode & 0o7777).toBe(0o755);
    if (isRoot) {
      expect([tool.uid, tool.gid]).toEqual([1234, 5678]);
      const sh = await lstat(join(root, 'bin/sh'));
      expect([sh.uid, sh.gid]).toEqual([7, 8]);
    }
  });

  it('applies whiteouts and opaque directories over a lower layer (plain tar)', async () => {
    await applyLayer(
      root,
      Readable.from([
        await makeTar([
          { header: { name: 'a/b' }, content: 'b' },
          { header: { name: 'a/c' }, content: 'c' },
          { header: { name: 'x/deep/file' }, content: 'x' },
          { header: { name: 'opq/old' }, content: 'old' },
          { header: { name: 'opq/sub/old2' }, content: 'old2' },
          { header: { name: 'opq2/old' }, content: 'old' },
        ]),
      ]),
    );
    await applyLayer(
      root,
      Readable.from([
        await makeTar([
          { header: { name: '.wh.x' } },
          { header: { name: 'a/.wh.b' } },
          { header: { name: 'opq/', type: 'directory', mode: 0o755 } },
          { header: { name: 'opq/.wh..wh..opq' } },
          { header: { name: 'opq/new' }, content: 'new' },
          // marker after this layer's own entry: the entry must survive (containerd's unpackedPaths)
          { header: { name: 'opq2/mine' }, content: 'mine' },
          { header: { name: 'opq2/.wh..wh..opq' } },
          { header: { name: 'a/.wh.does-not-exist' } },
        ]),
      ]),
    );
    expect(await listTree(root)).toEqual(['a/', 'a/c', 'opq/', 'opq/new', 'opq2/', 'opq2/mine']);
  });

  it('replaces a file by a directory and a directory by a file', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'p' }, content: 'file' }, { header: { name: 'q/r' }, content: 'r' }])]));
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'p/', type: 'directory' } }, { header: { name: 'q' }, content: 'now a file' }])]));
    expect(await listTree(root)).toEqual(['p/', 'q']);
  });

  it('decompresses zstd by magic bytes', async () => {
    const dir = await makeTempDir('zstd-');
    await writeFile(join(dir, 'l.tar'), await makeTar([{ header: { name: 'z.txt' }, content: 'zstd!' }]));
    await run('zstd', ['-q', '-f', join(dir, 'l.tar'), '-o', join(dir, 'l.tar.zst')]);
    await applyLayer(root, Readable.from([await readFile(join(dir, 'l.tar.zst'))]));
    expect(await readFile(join(root, 'z.txt'), 'utf8')).toBe('zstd!');
  });

  it.skipIf(!isRoot)('creates device nodes and fifos as root', async () => {
    await applyLayer(
      root,
      Readable.from([
        await makeTar([
          { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
          { header: { name: 'dev/fifo', type: 'fifo', mode: 0o640 } },
        ]),
      ]),
    );
    const nul = await lstat(join(root, 'dev/null'));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe((1 << 8) | 3);
    expect(nul.mode & 0o7777).toBe(0o666);
    const fifo = await lstat(join(root, 'dev/fifo'));
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode & 0o7777).toBe(0o640);
  });

  it('skips devices with a warning when not permitted', async () => {
    const warnings: LayerWarning[] = [];
    // Without root this is the real path; as root, simulate a failing mknod with an impossible device type.
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'dev/x', type: 'block-device', devmajor: 0xfffff, devminor: 1 } }, { header: { name: 'ok' }, content: 'ok' }])]), {
      onWarning: (w) => warnings.push(w),
    });
    expect(warnings.map((w) => [w.code, w.path])).toEqual([['W_LAYER_DEVICE_SKIPPED', '/dev/x']]);
    expect(await readFile(join(root, 'ok'), 'utf8')).toBe('ok');
  });
});

describe('applyLayer: malicious tars never write outside the root', () => {
  let base: string;
  let root: string;
  let outside: string;
  let before: string[];

  beforeEach(async () => {
    base = await makeTempDir('evil-');
    root = join(base, 'root');
    outside = join(base, 'outside');
    await mkdir(root);
    await mkdir(outside);
    await writeFile(join(outside, 'sentinel.txt'), 'untouched');
    before = await listTree(outside);
  });

  async function expectSentinelUntouched(): Promise<void> {
    expect(await listTree(outside)).toEqual(before);
    expect(await readFile(join(outside, 'sentinel.txt'), 'utf8')).toBe('untouched');
    expect((await stat(join(outside, 'sentinel.txt'))).nlink).toBe(1);
  }

  it('clamps ".." names at the root', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: '../outside/pwned' }, content: 'x' }, { header: { name: 'a/../../../outside/pwned2' }, content: 'y' }])]));
    await expectSentinelUntouched();
    expect(await listTree(root)).toEqual(['outside/', 'outside/pwned', 'outside/pwned2']);
  });

  it('puts absolute names under the root', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: `${outside}/pwned` }, content: 'x' }])]));
    await expectSentinelUntouched();
    expect(await readFile(join(root, outside, 'pwned'), 'utf8')).toBe('x');
  });

  it('resolves parents through symlinks with the root as "/" (relative and absolute targets, chains)', async () => {
    await applyLayer(
      root,
      Readable.from([
        await makeTar([
          { header: { name: 'rel', type: 'symlink', linkname: '../outside' } },
          { header: { name: 'abs', type: 'symlink', linkname: outside } },
          { header: { name: 'hop1', type: 'symlink', linkname: 'hop2' } },
          { header: { name: 'hop2', type: 'symlink', linkname: '../../../../..' } },
          { header: { name: 'rel/pwned' }, content: '1' },
          { header: { name: 'abs/pwned' }, content: '2' },
          { header: { name: 'hop1/pwned' }, content: '3' },
        ]),
      ]),
    );
    await expectSentinelUntouched();
    // containerd's fs.RootPath: ../outside from the root is /outside; /abs/outside is <root>/abs/outside.
    expect(await readFile(join(root, 'outside/pwned'), 'utf8')).toBe('1');
    expect(await readFile(join(root, outside, 'pwned'), 'utf8')).toBe('2');
    expect(await readFile(join(root, 'pwned'), 'utf8')).toBe('3');
  });

  it('follows a symlink planted by an earlier layer only inside the root', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'etc', type: 'symlink', linkname: outside } }])]));
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'etc/sentinel.txt' }, content: 'overwritten?' }, { header: { name: 'etc/.wh.sentinel.txt' } }])]));
    await expectSentinelUntouched();
    expect(await listTree(join(root, outside))).toEqual([]);
  });

  it('replaces a symlink at the last component instead of writing through it', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'link', type: 'symlink', linkname: join(outside, 'sentinel.txt') } }])]));
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'link', mode: 0o777 }, content: 'replaced' }])]));
    await expectSentinelUntouched();
    expect((await lstat(join(root, 'link'))).isFile()).toBe(true);
    expect(await readFile(join(root, 'link'), 'utf8')).toBe('replaced');
  });

  it('rejects hardlinks whose target is outside the root (resolved inside, absent there)', async () => {
    for (const linkname of ['../outside/sentinel.txt', join(outside, 'sentinel.txt'), '../../../../../../../' + join(outside, 'sentinel.txt')]) {
      const err = await applyLayer(root, Readable.from([await makeTar([{ header: { name: `hl-${Math.random()}`, type: 'link', linkname } }])])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LayerError);
      expect((err as LayerError).code).toBe('E_LAYER_HARDLINK_TARGET');
    }
    await expectSentinelUntouched();
  });

  it('rejects a hardlink through a symlinked parent that points outside', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'out', type: 'symlink', linkname: outside } }])]));
    const err = await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'hl', type: 'link', linkname: 'out/sentinel.txt' } }])])).catch((e: unknown) => e);
    expect((err as LayerError).code).toBe('E_LAYER_HARDLINK_TARGET');
    await expectSentinelUntouched();
  });

  it('rejects whiteouts that do not name a sibling', async () => {
    for (const name of ['a/.wh..', 'a/.wh.']) {
      const err = await applyLayer(root, Readable.from([await makeTar([{ header: { name: 'a/keep' }, content: 'k' }, { header: { name } }])])).catch((e: unknown) => e);
      expect((err as LayerError).code).toBe('E_LAYER_INVALID_WHITEOUT');
    }
    await expectSentinelUntouched();
  });

  it('a whiteout of ".." components never removes anything outside', async () => {
    await applyLayer(root, Readable.from([await makeTar([{ header: { name: '../outside/.wh.sentinel.txt' } }, { header: { name: '../.wh.outside' } }])]));
    await expectSentinelUntouched();
  });
});
