/**
 * The content-addressed blob store: digest → bytes, on disk under `<root>/content-v1/`
 * (format described in layout.ts and the package README).
 *
 * Write path: stream → hash + temp file (in `<root>/tmp`, same file system) → verify digest and
 * size → (already stored with that size: drop the temp file) → fsync → rename into place → fsync
 * the directory. A blob is visible under its digest only after
 * it was verified, so a crash, a kill or a full disk never leaves a wrong or partial blob under a
 * digest. Two writers of the same digest (in one or several processes) each rename a complete,
 * verified, identical file over the other: harmless.
 *
 * Read path: every read re-hashes while streaming; a blob whose content no longer matches its digest
 * is reported (`E_BLOB_CORRUPT`) and removed so the next build repairs it.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, fstatSync } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { fsyncDir, tempPath } from './atomic-file.js';
import { parseDigest, type DigestAlgorithm } from './digest.js';
import {
  BlobCorruptError,
  BlobDigestMismatchError,
  BlobNotFoundError,
  BlobSizeMismatchError,
  mapFsError,
} from './errors.js';
import { CacheLayout, resolveCacheDir } from './layout.js';
import type { BlobStore, Digest } from './types.js';

/**
 * Options of {@link ContentStore}.
 *
 * @example
 * ```ts
 * new ContentStore({ root: '/tmp/cache', now: () => fixedClock })
 * ```
 */
export interface ContentStoreOptions {
  /** Cache root directory. Default: {@link resolveCacheDir} (`$BUILD_IMAGE_CACHE_DIR`, XDG, `~/.cache`). */
  root?: string;
  /** Clock in ms since the epoch, for clean-up ages. Default `Date.now`. */
  now?: () => number;
}

/**
 * Options of {@link ContentStore.put}.
 *
 * @example
 * ```ts
 * await store.put(body, { expected: desc.digest, size: desc.size } satisfies PutOptions)
 * ```
 */
export interface PutOptions {
  /** The digest the content must have; a mismatch rejects with `E_DIGEST_MISMATCH` and stores nothing. */
  expected?: Digest;
  /** The exact length the content must have; a mismatch rejects with `E_SIZE_MISMATCH`. */
  size?: number;
}

/**
 * One stored blob, as {@link ContentStore.list} reports it.
 *
 * @example
 * ```ts
 * for await (const { digest, size, mtimeMs } of store.list()) console.log(digest, size, new Date(mtimeMs))
 * ```
 */
export interface BlobInfo {
  digest: Digest;
  size: number;
  /** Last write (or {@link ContentStore.touch}) time, ms since the epoch. */
  mtimeMs: number;
}

const ALGORITHMS: readonly DigestAlgorithm[] = ['sha256', 'sha512'];
const HEX_RE = /^[0-9a-f]+$/;
/** A temp file untouched for this long belongs to a writer that died. Writers touch it on every chunk. */
const DEFAULT_TEMP_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * The on-disk content-addressed store.
 *
 * @example
 * ```ts
 * const store = new ContentStore({ root: '/var/cache/build-image' })
 * const { digest } = await store.put(fs.createReadStream('layer.tar.gz'), { expected })
 * await pipeline(store.get(digest), fs.createWriteStream('/tmp/copy'))
 * ```
 */
export class ContentStore implements BlobStore {
  readonly root: string;
  readonly layout: CacheLayout;
  private readonly now: () => number;

  constructor(options: ContentStoreOptions = {}) {
    this.root = options.root ?? resolveCacheDir();
    this.layout = new CacheLayout(this.root);
    this.now = options.now ?? Date.now;
  }

  /**
   * Streams `source` into the store, hashing while writing and honouring backpressure (each chunk
   * is written before the next is pulled). Resolves once the blob is durable under its digest.
   *
   * @example
   * ```ts
   * const { digest, size } = await store.put(response.body, { expected: desc.digest, size: desc.size })
   * ```
   */
  async put(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<{ digest: Digest; size: number }> {
    // A stream that fails before the loop below starts reading it would otherwise raise an
    // unhandled 'error' event; the loop reports the stored error when it starts.
    const emitter = source as Partial<Pick<Readable, 'on' | 'destroy' | 'readableEnded'>>;
    if (typeof emitter.on === 'function') emitter.on('error', () => {});
    try {
      return await this.putFrom(source, options);
    } catch (e) {
      // Put owns the source: if it gave up early (disk full, bad digest), release the stream.
      if (typeof emitter.destroy === 'function' && !emitter.readableEnded) emitter.destroy();
      throw e;
    }
  }

  private async putFrom(source: Readable | AsyncIterable<Uint8Array>, options: PutOptions): Promise<{ digest: Digest; size: number }> {
    const algorithm = options.expected ? parseDigest(options.expected).algorithm : 'sha256';
    if (options.size !== undefined && !(Number.isSafeInteger(options.size) && options.size >= 0)) {
      throw new TypeError(`put: size must be a non-negative integer, got ${options.size}`);
    }
    if (options.expected && (await this.has(options.expected))) return this.verifyOnly(source, options.expected, options.size);
    const tmp = tempPath(this.layout.tmp);
    const hash = createHash(algorithm);
    let size = 0;
    let fh: Awaited<ReturnType<typeof open>> | undefined;
    try {
      await mkdir(this.layout.tmp, { recursive: true });
      // Mode 0444 applies to later opens only; this descriptor stays writable. Blobs are read-only
      // so that a hard link into an output directory cannot be edited in place by accident.
      fh = await open(tmp, 'wx', 0o444);
      for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        size += buf.byteLength;
        if (options.size !== undefined && size > options.size) {
          // Leaving the loop destroys the source stream: no point reading the rest.
          throw new BlobSizeMismatchError(options.size, size, options.expected);
        }
        hash.update(buf);
        await writeAll(fh, buf);
      }
      if (options.size !== undefined && size !== options.size) {
        throw new BlobSizeMismatchError(options.size, size, options.expected);
      }
      const digest = `${algorithm}:${hash.digest('hex')}` as Digest;
      if (options.expected && digest !== options.expected) {
        throw new BlobDigestMismatchError(options.expected, digest, size);
      }
      const dest = this.layout.blob(digest);
      if (await this.hasWithSize(dest, size)) {
        // Already stored (and durable: it got there through this path): drop the copy without
        // paying its fsync and the directory's. Identical blobs are common: every empty RUN
        // layer, and configs/manifests on each rebuild.
        await fh.close();
        fh = undefined;
        await rm(tmp, { force: true });
        return { digest, size };
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      await mkdir(dirname(dest), { recursive: true });
      await rename(tmp, dest);
      await fsyncDir(dirname(dest));
      return { digest, size };
    } catch (e) {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      throw mapFsError(e, this.root);
    }
  }

  /** True when a blob file exists at `path` with `size` bytes (a racing or damaged one does not count). */
  private async hasWithSize(path: string, size: number): Promise<boolean> {
    try {
      const st = await stat(path);
      return st.isFile() && st.size === size;
    } catch {
      return false;
    }
  }

  /**
   * The blob is already stored: consume the source and check it (the caller relies on put having
   * read and verified it) without writing a second copy to disk.
   */
  private async verifyOnly(source: Readable | AsyncIterable<Uint8Array>, expected: Digest, expectedSize: number | undefined): Promise<{ digest: Digest; size: number }> {
    const { algorithm } = parseDigest(expected);
    const hash = createHash(algorithm);
    let size = 0;
    for await (const chunk of source as AsyncIterable<Uint8Array | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.byteLength;
      if (expectedSize !== undefined && size > expectedSize) throw new BlobSizeMismatchError(expectedSize, size, expected);
      hash.update(buf);
    }
    if (expectedSize !== undefined && size !== expectedSize) throw new BlobSizeMismatchError(expectedSize, size, expected);
    const digest = `${algorithm}:${hash.digest('hex')}` as Digest;
    if (digest !== expected) throw new BlobDigestMismatchError(expected, digest, size);
    return { digest, size };
  }

  /**
   * Re-hashes every stored blob, removes those that no longer match their digest, and reports
   * them. For `build-image doctor`-style checks; ordinary reads already verify what they read.
   *
   * @example
   * ```ts
   * const { checked, corrupt } = await store.verify()
   * if (corrupt.length) console.warn(`removed ${corrupt.length} corrupt blobs`)
   * ```
   */
  async verify(): Promise<{ checked: number; bytes: number; corrupt: Digest[] }> {
    let checked = 0;
    let bytes = 0;
    const corrupt: Digest[] = [];
    for await (const b of this.list()) {
      try {
        for await (const chunk of this.get(b.digest)) bytes += (chunk as Buffer).byteLength;
        checked++;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'E_BLOB_CORRUPT') {
          checked++;
          corrupt.push(b.digest);
        } else if (code !== 'E_BLOB_NOT_FOUND') throw e;
      }
    }
    return { checked, bytes, corrupt };
  }

  /**
   * Stores a small in-memory blob (manifest, config) with the same guarantees as {@link put}.
   *
   * @example
   * ```ts
   * const { digest } = await store.putBytes(JSON.stringify(manifest))
   * ```
   */
  async putBytes(data: Uint8Array | string, options: { expected?: Digest } = {}): Promise<{ digest: Digest; size: number }> {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    return this.put(
      (async function* () {
        yield buf;
      })(),
      { ...options, size: buf.byteLength },
    );
  }

  /**
   * A stream of the blob that re-hashes while it flows. At EOF a mismatch destroys the stream with
   * `E_BLOB_CORRUPT` and removes the blob; a missing blob errors with `E_BLOB_NOT_FOUND`.
   *
   * @example
   * ```ts
   * await pipeline(store.get(layer.digest), createGunzip(), tar.extract(dir))
   * ```
   */
  get(digest: Digest): Readable {
    let path: string;
    let algorithm: DigestAlgorithm;
    try {
      path = this.layout.blob(digest);
      algorithm = parseDigest(digest).algorithm;
    } catch (e) {
      const r = new Readable({ read() {} });
      process.nextTick(() => r.destroy(e as Error));
      return r;
    }
    const hash: Hash = createHash(algorithm);
    let ino: number | undefined;
    // 1 MiB reads: with the default 64 KiB, exporting a 21 MiB image spent more time in
    // thread-pool round trips than in reading (measured 125-160 → ~100 ms for the whole export).
    const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
    const out = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb(null, chunk);
      },
      flush: (cb) => {
        const actual = `${algorithm}:${hash.digest('hex')}`;
        if (actual === digest) return cb();
        removeIfSameFile(path, ino).then(
          () => cb(new BlobCorruptError(digest, path, actual)),
          () => cb(new BlobCorruptError(digest, path, actual)),
        );
      },
    });
    file.on('open', (fd: number) => {
      // Remember which file we read, so a corrupt-blob removal never deletes a good copy that
      // another process renamed into place meanwhile.
      try {
        ino = fstatSync(fd).ino;
      } catch {
        /* the removal then falls back to unconditional */
      }
    });
    file.on('error', (e: NodeJS.ErrnoException) => {
      out.destroy(e.code === 'ENOENT' ? new BlobNotFoundError(digest, path) : (e as Error));
    });
    out.on('close', () => file.destroy());
    file.pipe(out);
    return out;
  }

  /**
   * The whole blob, verified. For small blobs (manifests, configs); stream layers with {@link get}.
   *
   * @example
   * ```ts
   * const manifest = JSON.parse((await store.getBytes(digest)).toString('utf8'))
   * ```
   */
  async getBytes(digest: Digest): Promise<Buffer> {
    const path = this.layout.blob(digest);
    const { algorithm } = parseDigest(digest);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest, path);
      throw e;
    }
    let data: Buffer;
    let ino: number;
    try {
      ino = (await fh.stat()).ino;
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
    const actual = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
    if (actual !== digest) {
      await removeIfSameFile(path, ino).catch(() => {});
      throw new BlobCorruptError(digest, path, actual);
    }
    return data;
  }

  /**
   * True when a blob with this digest is stored (it was verified when it was written).
   *
   * @example
   * ```ts
   * if (!(await store.has(layer.digest))) await pull(layer)
   * ```
   */
  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * The stored size, or undefined when absent.
   *
   * @example
   * ```ts
   * const size = (await store.stat(digest))?.size ?? 0
   * ```
   */
  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const st = await stat(this.layout.blob(digest));
      return st.isFile() ? { size: st.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /**
   * Removes a blob; removing an absent blob is not an error.
   *
   * @example
   * ```ts
   * await store.delete(digest)
   * ```
   */
  async delete(digest: Digest): Promise<void> {
    await rm(this.layout.blob(digest), { force: true });
  }

  /**
   * Absolute path of the blob file (it may not exist). For zero-copy readers: hard-linking into an
   * OCI layout or tar extraction. The file is read-only; never write through this path.
   *
   * @example
   * ```ts
   * await fs.link(store.pathOf(d), join(layoutDir, 'blobs/sha256', d.slice(7)))
   * ```
   */
  pathOf(digest: Digest): string {
    return this.layout.blob(digest);
  }

  /**
   * Marks a blob as just used (sets its mtime), for least-recently-used pruning of blobs that no
   * cache entry references (such as base-image layers).
   *
   * @example
   * ```ts
   * await store.touch(baseLayer.digest)
   * ```
   */
  async touch(digest: Digest): Promise<void> {
    const t = this.now() / 1000;
    try {
      await utimes(this.layout.blob(digest), t, t);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /**
   * Every stored blob, in no particular order. Files that are not named like a digest are skipped.
   *
   * @example
   * ```ts
   * for await (const b of store.list()) total += b.size
   * ```
   */
  async *list(): AsyncGenerator<BlobInfo> {
    for (const algorithm of ALGORITHMS) {
      const dir = join(this.layout.content, algorithm);
      const names = await readdirOrEmpty(dir);
      for (const name of names) {
        if (!HEX_RE.test(name) || name.length !== (algorithm === 'sha256' ? 64 : 128)) continue;
        try {
          const st = await lstat(join(dir, name));
          if (st.isFile()) yield { digest: `${algorithm}:${name}` as Digest, size: st.size, mtimeMs: st.mtimeMs };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    }
  }

  /**
   * Removes temp files of writers that crashed or were killed: files in `<root>/tmp` not written to
   * for `olderThan` ms (default 24 h). A live writer updates its file's mtime with every chunk.
   *
   * @example
   * ```ts
   * const { removed, bytes } = await store.cleanTemp({ olderThan: 60 * 60 * 1000 })
   * ```
   */
  async cleanTemp(options: { olderThan?: number } = {}): Promise<{ removed: number; bytes: number }> {
    const cutoff = this.now() - (options.olderThan ?? DEFAULT_TEMP_MAX_AGE_MS);
    let removed = 0;
    let bytes = 0;
    for (const name of await readdirOrEmpty(this.layout.tmp)) {
      const p = join(this.layout.tmp, name);
      try {
        const st = await lstat(p);
        if (st.mtimeMs >= cutoff) continue;
        await rm(p, { force: true, recursive: true });
        removed++;
        bytes += st.size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return { removed, bytes };
  }

  /**
   * Sizes of the temp directory's files (what {@link cleanTemp} could free at most).
   *
   * @example
   * ```ts
   * const { files, bytes } = await store.tempUsage()
   * ```
   */
  async tempUsage(): Promise<{ files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    for (const name of await readdirOrEmpty(this.layout.tmp)) {
      try {
        bytes += (await lstat(join(this.layout.tmp, name))).size;
        files++;
      } catch {
        /* finished or removed meanwhile */
      }
    }
    return { files, bytes };
  }
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.byteLength) {
    const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
    off += bytesWritten;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Unlinks `path` if it is still the file (inode) we read; a good copy renamed in meanwhile stays. */
async function removeIfSameFile(path: string, ino: number | undefined): Promise<void> {
  if (ino !== undefined) {
    const st = await lstat(path).catch(() => undefined);
    if (!st || st.ino !== ino) return;
  }
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}
