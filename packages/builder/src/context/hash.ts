/**
 * Content hashing of a COPY/ADD selection: a digest per selected entry and one for the whole
 * selection, for cache keys. A hash covers what the copy writes: relative path, type, permission
 * bits (incl. setuid/setgid/sticky), the owner it is written with, symlink target, device numbers
 * and content bytes; never times or inode numbers.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import pLimit from 'p-limit';
import type { Digest } from '@build-image/cache';
import type { ContextEntry } from './entry.js';
import type { Selection, SelectedEntry } from './select.js';
import type { StatCache } from './stat-cache.js';
import { availableParallelism } from 'node:os';
import { hashFilesOnWorkers } from './hash-workers.js';

/** Framing tags; bump the version when what a hash covers changes (it invalidates cache keys). */
const ENTRY_TAG = 'build-image/context-entry/v1';
const TREE_TAG = 'build-image/context-selection/v1';
const CHUNK = 256 * 1024;

export interface HashOptions {
  /** `--chown`: the numeric owner every entry is written with. */
  chown?: { uid: number; gid: number };
  /**
   * `--chmod`: replaces the permission bits of files and directories (not symlinks). Only 0o777 is
   * kept, as BuildKit's copier applies it through Go's `os.Chmod`.
   */
  chmod?: number;
  /**
   * Keep each entry's own uid/gid when no chown is given. Default false: BuildKit's local source
   * resets context files to 0:0, so the source owner never reaches the image.
   */
  preserveOwner?: boolean;
  /** Reuses content digests of unchanged files, and records new ones. */
  statCache?: StatCache;
  /** Files read at once on the main thread (default 8). */
  concurrency?: number;
  /**
   * Worker threads for cold hashing when at least `workerThreshold` files must be read
   * (default: available parallelism, at most 4; 0 disables workers).
   */
  workers?: number;
  /** Minimum number of files to read before workers are used (default 512). */
  workerThreshold?: number;
  /** Called with the context path of each file whose contents are read (observability, tests). */
  onRead?: (contextPath: string) => void;
}

export interface FileHash {
  /** Context-relative path of the source entry. */
  path: string;
  /** Path relative to the copy destination. */
  copyPath: string;
  hash: Digest;
  /** Effective permission bits as written. */
  mode: number;
}

export interface SelectionHash {
  /** Digest of the whole selection: every source, match and entry, in order. */
  digest: Digest;
  /** One per selected entry, sorted by `path` then `copyPath`, for cache-miss explanations. */
  files: FileHash[];
  /** Digest per source. */
  sources: { source: string; digest: Digest }[];
}

const sha256 = (s: string): Digest => `sha256:${createHash('sha256').update(s).digest('hex')}` as Digest;

/**
 * Streams a file into sha256 (bounded memory: one chunk buffer) and returns the hex digest, plus
 * whether the file's stat data changed while it was read (then the digest must not be cached).
 * When `expectedSize` is given, the final empty read is skipped once that many bytes arrived; the
 * fstat afterwards catches a file that grew, and it is then read again in full.
 */
export async function hashFileContent(
  absPath: string,
  expected?: ContextEntry,
  buffer: Buffer = Buffer.allocUnsafe(CHUNK),
): Promise<{ hex: string; changed: boolean }> {
  const fh = await open(absPath, 'r');
  try {
    for (let attempt = 0; ; attempt++) {
      const h = createHash('sha256');
      let total = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buffer, 0, buffer.length, total);
        if (bytesRead === 0) break;
        h.update(buffer.subarray(0, bytesRead));
        total += bytesRead;
        if (attempt === 0 && expected && total === expected.size) break;
      }
      if (!expected) return { hex: h.digest('hex'), changed: false };
      const st = await fh.stat({ bigint: true });
      const changed = st.mtimeNs !== expected.mtimeNs || st.ctimeNs !== expected.ctimeNs || Number(st.size) !== expected.size || st.ino !== expected.ino;
      if (Number(st.size) === total || attempt > 0) return { hex: h.digest('hex'), changed };
    }
  } finally {
    await fh.close();
  }
}

/** The permission bits an entry is written with. */
export function effectiveMode(e: ContextEntry, chmod?: number): number {
  if (e.type === 'symlink') return 0o777;
  return chmod === undefined ? e.mode : chmod & 0o777;
}

/**
 * Digest of one selected entry given its content digest (hex sha256, files only).
 *
 * @example hashEntry({ path: 'a.txt', entry }, contentHex, { chown: { uid: 1000, gid: 1000 } })
 */
export function hashEntry(sel: SelectedEntry, contentHex: string | undefined, options: Pick<HashOptions, 'chown' | 'chmod' | 'preserveOwner'> = {}): Digest {
  const e = sel.entry;
  const owner = options.chown ?? (options.preserveOwner ? { uid: e.uid, gid: e.gid } : { uid: 0, gid: 0 });
  const isDev = e.type === 'char-device' || e.type === 'block-device';
  const frame = [
    ENTRY_TAG,
    sel.path,
    e.type,
    effectiveMode(e, options.chmod).toString(8),
    String(owner.uid),
    String(owner.gid),
    e.type === 'symlink' ? (e.linkTarget ?? '') : '',
    isDev ? e.rdev.toString() : '',
    e.type === 'file' ? (contentHex ?? '') : '',
  ];
  // NUL cannot occur in paths or link targets, so joining with it is an unambiguous framing.
  return sha256(frame.join('\0'));
}

/**
 * Hashes a selection: file contents are taken from the stat cache when unchanged, otherwise read
 * (streamed, `concurrency` at a time) and recorded in it. The caller saves the stat cache.
 *
 * @example
 * const sc = await StatCache.load(cacheRoot, ctx.dir)
 * const { digest, files } = await hashSelection(selectSources(ctx, { sources: ['.'] }), { statCache: sc })
 * await sc.save()
 */
export async function hashSelection(selection: Selection, options: HashOptions = {}): Promise<SelectionHash> {
  const ctxDir = selection.context.dir;
  const sc = options.statCache;
  // Content digests by context path: each file is read at most once per selection.
  const contents = new Map<string, string>();
  const toRead = new Map<string, ContextEntry>();
  for (const s of selection.sources) {
    for (const m of s.matches) {
      for (const sel of m.entries) {
        const e = sel.entry;
        if (e.type !== 'file' || contents.has(e.path) || toRead.has(e.path)) continue;
        const cached = sc?.lookup(e);
        if (cached !== undefined) contents.set(e.path, cached);
        else toRead.set(e.path, e);
      }
    }
  }
  const threads = options.workers ?? Math.min(4, availableParallelism());
  if (toRead.size >= (options.workerThreshold ?? 512) && threads > 0) {
    const list = [...toRead.values()].map((e) => ({ abs: path.join(ctxDir, e.path), entry: e }));
    const res = await hashFilesOnWorkers(list, threads, options.onRead);
    res.forEach((r, i) => {
      const e = list[i]!.entry;
      contents.set(e.path, r.hex);
      if (sc && !r.changed) sc.record(e, r.hex);
    });
  } else if (toRead.size > 0) {
    const limit = pLimit(options.concurrency ?? 8);
    const buffers: Buffer[] = [];
    await Promise.all(
      [...toRead.values()].map((e) =>
        limit(async () => {
          const buf = buffers.pop() ?? Buffer.allocUnsafe(CHUNK);
          try {
            options.onRead?.(e.path);
            const r = await hashFileContent(path.join(ctxDir, e.path), e, buf);
            contents.set(e.path, r.hex);
            if (sc && !r.changed) sc.record(e, r.hex);
          } finally {
            buffers.push(buf);
          }
        }),
      ),
    );
  }

  const files: FileHash[] = [];
  const tree = createHash('sha256').update(TREE_TAG);
  const perSource: { source: string; digest: Digest }[] = [];
  for (const s of selection.sources) {
    const sh = createHash('sha256').update(TREE_TAG + '/source');
    for (const m of s.matches) {
      sh.update(['match', m.matched.slice(m.matched.lastIndexOf('/') + 1), String(m.entries.length)].join('\0'));
      for (const sel of m.entries) {
        const hash = hashEntry(sel, contents.get(sel.entry.path), options);
        sh.update(hash);
        files.push({ path: sel.entry.path, copyPath: sel.path, hash, mode: effectiveMode(sel.entry, options.chmod) });
      }
    }
    const d = `sha256:${sh.digest('hex')}` as Digest;
    perSource.push({ source: s.source, digest: d });
    tree.update(d);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.copyPath < b.copyPath ? -1 : a.copyPath > b.copyPath ? 1 : 0));
  return { digest: `sha256:${tree.digest('hex')}` as Digest, files, sources: perSource };
}
