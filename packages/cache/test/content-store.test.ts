import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, open, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BuildError } from '@build-image/errors';
import { ContentStore, digestOf, type Digest } from '../src/index.js';
import { collect, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();

async function freshStore(): Promise<ContentStore> {
  return new ContentStore({ root: await tempDir() });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(BuildError.is(e)).toBe(true);
    return (e as BuildError).code;
  }
  throw new Error('expected a rejection');
}

async function streamError(r: Readable): Promise<{ error: BuildError; bytes: number }> {
  let bytes = 0;
  try {
    for await (const c of r) bytes += (c as Buffer).length;
  } catch (e) {
    return { error: e as BuildError, bytes };
  }
  throw new Error('expected the stream to fail');
}

describe('ContentStore', () => {
  it('round-trips bytes under their sha256, read-only, in the versioned layout', async () => {
    const store = await freshStore();
    const { digest, size } = await store.putBytes('hello world\n');
    expect(digest).toBe('sha256:a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447');
    expect(size).toBe(12);
    expect(store.pathOf(digest)).toBe(join(store.root, 'content-v1/sha256/a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447'));
    expect((await store.getBytes(digest)).toString()).toBe('hello world\n');
    expect(await store.has(digest)).toBe(true);
    expect(await store.stat(digest)).toEqual({ size: 12 });
    expect((await lstat(store.pathOf(digest))).mode & 0o777).toBe(0o444);
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('streams a multi-chunk blob in and out', async () => {
    const store = await freshStore();
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(65_537, i));
    const whole = Buffer.concat(chunks);
    const { digest, size } = await store.put(Readable.from(chunks), { expected: digestOf(whole), size: whole.length });
    expect(size).toBe(whole.length);
    expect((await collect(store.get(digest))).equals(whole)).toBe(true);
  });

  it('accepts sha512 digests when the caller expects one', async () => {
    const store = await freshStore();
    const expected = `sha512:${createHash('sha512').update('x').digest('hex')}` as Digest;
    const { digest } = await store.putBytes('x', { expected });
    expect(digest).toBe(expected);
    expect(store.pathOf(digest)).toContain('content-v1/sha512/');
    expect((await store.getBytes(digest)).toString()).toBe('x');
  });

  it('rejects an expected-digest mismatch naming both digests, and leaves nothing behind', async () => {
    const store = await freshStore();
    const expected = digestOf('the real thing');
    const actual = digestOf('something else');
    const err = await store.put(Readable.from([Buffer.from('something else')]), { expected }).catch((e: BuildError) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect(err.code).toBe('E_DIGEST_MISMATCH');
    expect(err.message).toContain(expected);
    expect(err.message).toContain(actual);
    expect(err.data).toMatchObject({ expected, actual, size: 14 });
    expect(await store.has(expected)).toBe(false);
    expect(await store.has(actual)).toBe(false);
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('rejects a size mismatch (short and long) and leaves nothing behind', async () => {
    const store = await freshStore();
    expect(await codeOf(store.put(Readable.from([Buffer.from('abc')]), { size: 4 }))).toBe('E_SIZE_MISMATCH');
    let pulled = 0;
    const long = (async function* () {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield Buffer.alloc(10);
      }
    })();
    expect(await codeOf(store.put(long, { size: 15 }))).toBe('E_SIZE_MISMATCH');
    expect(pulled).toBe(2); // stopped reading as soon as the size was exceeded
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    expect(await readdir(join(store.root, 'content-v1')).catch(() => [])).toEqual([]);
  });

  it('passes a failing source\'s error through and leaves nothing behind', async () => {
    const store = await freshStore();
    const failing = (async function* () {
      yield Buffer.alloc(100_000, 1);
      throw new Error('connection reset by peer');
    })();
    await expect(store.put(failing)).rejects.toThrow('connection reset by peer');
    const r = new Readable({ read() {} });
    const p = store.put(r);
    r.push(Buffer.alloc(10_000));
    setTimeout(() => r.destroy(new Error('aborted upstream')), 20);
    await expect(p).rejects.toThrow('aborted upstream');
    // A stream that fails before put has started reading it.
    const early = new Readable({ read() {} });
    const p2 = store.put(early);
    early.destroy(new Error('failed at once'));
    await expect(p2).rejects.toThrow('failed at once');
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
    expect(await readdir(join(store.root, 'content-v1')).catch(() => [])).toEqual([]);
  });

  it('detects a blob corrupted on disk while streaming, reports it and removes it', async () => {
    const store = await freshStore();
    const data = Buffer.alloc(300_000, 'layer-bytes');
    const { digest } = await store.putBytes(data);
    const path = store.pathOf(digest);
    await chmod(path, 0o644);
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from([data[150_000]! ^ 0xff]), 0, 1, 150_000); // flip one byte
    await fh.close();

    const { error, bytes } = await streamError(store.get(digest));
    expect(error.code).toBe('E_BLOB_CORRUPT');
    expect(error.message).toContain(digest);
    expect(error.message).toContain(path);
    expect(bytes).toBe(data.length); // verification happens at EOF, after the bytes flowed
    expect(await store.has(digest)).toBe(false);
    expect(await codeOf(store.getBytes(digest))).toBe('E_BLOB_NOT_FOUND');
  });

  it('getBytes detects a truncated blob and removes it', async () => {
    const store = await freshStore();
    const { digest } = await store.putBytes('0123456789');
    await chmod(store.pathOf(digest), 0o644);
    await writeFile(store.pathOf(digest), '01234');
    const err = await store.getBytes(digest).catch((e: BuildError) => e);
    expect(err.code).toBe('E_BLOB_CORRUPT');
    expect(err.data['actual']).toBe(digestOf('01234'));
    expect(await store.has(digest)).toBe(false);
  });

  it('reports a missing blob as E_BLOB_NOT_FOUND on both read paths', async () => {
    const store = await freshStore();
    const d = digestOf('never stored');
    expect(await codeOf(store.getBytes(d))).toBe('E_BLOB_NOT_FOUND');
    expect((await streamError(store.get(d))).error.code).toBe('E_BLOB_NOT_FOUND');
    expect(await store.stat(d)).toBeUndefined();
    await store.delete(d); // deleting an absent blob is fine
  });

  it('refuses malformed digests before touching the disk', async () => {
    const store = await freshStore();
    for (const bad of ['sha256:../../etc/passwd', 'sha256:ABC', `md5:${'a'.repeat(32)}`, `sha256:${'a'.repeat(63)}`]) {
      expect(() => store.pathOf(bad as Digest)).toThrow(expect.objectContaining({ code: 'E_INVALID_DIGEST' }));
      expect((await streamError(store.get(bad as Digest))).error.code).toBe('E_INVALID_DIGEST');
    }
    expect(await codeOf(store.putBytes('x', { expected: 'sha256:nope' as Digest }))).toBe('E_INVALID_DIGEST');
  });

  it('handles concurrent writers of the same digest in one process', async () => {
    const store = await freshStore();
    const data = Buffer.alloc(1_000_000, 'same');
    const results = await Promise.all(Array.from({ length: 8 }, () => store.put(Readable.from([data.subarray(0, 500_000), data.subarray(500_000)]))));
    expect(new Set(results.map((r) => r.digest)).size).toBe(1);
    expect((await store.getBytes(results[0]!.digest)).equals(data)).toBe(true);
    expect(await readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('re-putting a stored blob verifies the source without rewriting the file', async () => {
    const store = await freshStore();
    const data = Buffer.alloc(100_000, 'dup');
    const first = await store.putBytes(data);
    const ino = (await lstat(store.pathOf(first.digest))).ino;
    expect(await store.put(Readable.from([data]), { expected: first.digest, size: data.length })).toEqual(first);
    expect((await lstat(store.pathOf(first.digest))).ino).toBe(ino);
    // A lying source is still caught, and the good copy stays.
    const err = await store.put(Readable.from([Buffer.alloc(100_000, 'lie')]), { expected: first.digest }).catch((e: BuildError) => e);
    expect(err.code).toBe('E_DIGEST_MISMATCH');
    expect(await codeOf(store.put(Readable.from([data]), { expected: first.digest, size: 5 }))).toBe('E_SIZE_MISMATCH');
    expect((await store.getBytes(first.digest)).equals(data)).toBe(true);
  });

  it('verify() re-hashes everything and removes what is corrupt', async () => {
    const store = await freshStore();
    const good = await store.putBytes('good');
    const bad = await store.putBytes('bad!');
    await chmod(store.pathOf(bad.digest), 0o644);
    await writeFile(store.pathOf(bad.digest), 'BAD!');
    expect(await store.verify()).toEqual({ checked: 2, bytes: 8, corrupt: [bad.digest] });
    expect(await store.has(bad.digest)).toBe(false);
    expect(await store.has(good.digest)).toBe(true);
  });

  it('lists blobs and deletes them', async () => {
    const store = await freshStore();
    const a = await store.putBytes('a');
    const b = await store.putBytes('bb');
    const listed = [];
    for await (const x of store.list()) listed.push({ digest: x.digest, size: x.size });
    expect(listed.sort((x, y) => x.size - y.size)).toEqual([a, b]);
    await store.delete(a.digest);
    expect(await store.has(a.digest)).toBe(false);
    expect(await store.has(b.digest)).toBe(true);
  });

  it('cleans up temp files of dead writers by age, keeping fresh ones', async () => {
    let now = Date.now();
    const store = new ContentStore({ root: await tempDir(), now: () => now });
    await mkdir(join(store.root, 'tmp'), { recursive: true });
    const stale = join(store.root, 'tmp', '1-dead.tmp');
    const fresh = join(store.root, 'tmp', '2-live.tmp');
    await writeFile(stale, Buffer.alloc(1000));
    await writeFile(fresh, Buffer.alloc(10));
    const old = (now - 25 * 3600_000) / 1000;
    await utimes(stale, old, old);
    expect(await store.cleanTemp()).toEqual({ removed: 1, bytes: 1000 });
    expect(await readdir(join(store.root, 'tmp'))).toEqual(['2-live.tmp']);
    now += 2 * 3600_000;
    expect(await store.cleanTemp({ olderThan: 3600_000 })).toEqual({ removed: 1, bytes: 10 });
  });

  it('touch moves a blob mtime to the injected clock', async () => {
    const t = Date.UTC(2030, 0, 1);
    const store = new ContentStore({ root: await tempDir(), now: () => t });
    const { digest } = await store.putBytes('t');
    await store.touch(digest);
    expect((await lstat(store.pathOf(digest))).mtimeMs).toBe(t);
  });
});

describe('ContentStore on a full disk', () => {
  const canMount = process.getuid?.() === 0 && (() => {
    try {
      execFileSync('mount', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  // Needs root to mount a 1 MiB tmpfs; elsewhere there is no honest way to fill a disk.
  it.skipIf(!canMount)('turns ENOSPC into E_NO_SPACE, removes the partial write and keeps stored content', async (ctx) => {
    const mnt = await tempDir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' });
    } catch {
      ctx.skip(); // mount refused (an unprivileged container): no honest way to fill a disk
    }
    try {
      const store = new ContentStore({ root: mnt });
      const kept = await store.putBytes(Buffer.alloc(200_000, 'keep'));
      const big = (async function* () {
        for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, i);
      })();
      const err = await store.put(big).catch((e: BuildError) => e);
      expect(err.code).toBe('E_NO_SPACE');
      expect(err.message).toMatch(/no space left/);
      expect(err.message).toContain(mnt);
      expect(await readdir(join(mnt, 'tmp'))).toEqual([]);
      expect((await store.getBytes(kept.digest)).equals(Buffer.alloc(200_000, 'keep'))).toBe(true);
      // And the store still works once there is room.
      expect((await store.putBytes('small')).digest).toBe(digestOf('small'));
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});

describe('resolveCacheDir', () => {
  it('prefers BUILD_IMAGE_CACHE_DIR, then absolute XDG_CACHE_HOME, then ~/.cache', async () => {
    const { resolveCacheDir } = await import('../src/index.js');
    expect(resolveCacheDir({ BUILD_IMAGE_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/xdg', HOME: '/h' })).toBe('/x/y');
    expect(resolveCacheDir({ XDG_CACHE_HOME: '/xdg', HOME: '/h' })).toBe('/xdg/build-image');
    expect(resolveCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/build-image');
    expect(resolveCacheDir({ HOME: '/h' })).toBe('/h/.cache/build-image');
    expect(new ContentStore({}).root).toBe(resolveCacheDir());
  });
});
