/**
 * A persisted stat cache per build context: relative path + lstat identity → content digest, so an
 * unchanged file is not re-read on a rebuild (the technique of git's index).
 *
 * On-disk format, version 1: `<cacheRoot>/context-v1/<sha256 hex of the absolute context path>.json`
 * holding `{"version":1,"context":"/abs/ctx","entries":[[path,dev,ino,size,mtimeNs,ctimeNs,mode,uid,gid,sha256hex],...]}`
 * (bigints as decimal strings). One JSON document parses far faster than one per line.
 *
 * Racily clean entries: a file changed in the same timestamp tick as its stat was recorded can keep
 * identical stat data. As in git, the cache file's own mtime (the file system's clock, so its
 * granularity too) is the reference: an entry whose mtime or ctime is not strictly older than the
 * second the cache was written is not trusted and gets re-hashed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { ContextEntry } from './entry.js';

const VERSION = 1;
const SECOND = 1_000_000_000n;

// [path, dev, ino, size, mtimeNs, ctimeNs, mode, uid, gid, sha256hex]; kept in this shape in memory
// too, so loading is one JSON.parse and bigints are only formatted for the entries looked up.
type DiskRow = [string, string, string, number, string, string, number, number, number, string];

export class StatCache {
  private readonly rows = new Map<string, DiskRow>();
  /** Start of the second the cache file was last written (fs clock); entries at or after it are racy. */
  private racyFromNs = -1n;
  private dirty = false;

  private constructor(
    /** Where the cache is persisted. */
    readonly file: string,
    /** Absolute context path the cache belongs to. */
    readonly contextDir: string,
  ) {}

  /** The cache file for a context under `cacheRoot`. */
  static fileFor(cacheRoot: string, contextDir: string): string {
    const abs = path.resolve(contextDir);
    return path.join(cacheRoot, `context-v${VERSION}`, `${createHash('sha256').update(abs).digest('hex')}.json`);
  }

  /**
   * Loads the stat cache of `contextDir` (an empty one when absent, unreadable or of another version).
   * @example const sc = await StatCache.load(`${cacheRoot}`, '/src/app')
   */
  static async load(cacheRoot: string, contextDir: string): Promise<StatCache> {
    const file = StatCache.fileFor(cacheRoot, contextDir);
    const sc = new StatCache(file, path.resolve(contextDir));
    try {
      const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file, { bigint: true })]);
      const doc = JSON.parse(text) as { version: number; context: string; entries: DiskRow[] };
      if (doc.version !== VERSION || doc.context !== sc.contextDir) return sc;
      for (const r of doc.entries) sc.rows.set(r[0], r);
      sc.racyFromNs = (st.mtimeNs / SECOND) * SECOND;
    } catch {
      // A missing or corrupt cache only costs a re-hash.
    }
    return sc;
  }

  get size(): number {
    return this.rows.size;
  }

  /** The content digest (hex sha256) recorded for an unchanged, not racily clean entry. */
  lookup(e: ContextEntry): string | undefined {
    const r = this.rows.get(e.path);
    if (!r || this.racyFromNs < 0) return undefined;
    if (
      r[3] !== e.size ||
      r[6] !== e.mode ||
      r[7] !== e.uid ||
      r[8] !== e.gid ||
      r[4] !== String(e.mtimeNs) ||
      r[5] !== String(e.ctimeNs) ||
      r[2] !== String(e.ino) ||
      r[1] !== String(e.dev)
    ) {
      return undefined;
    }
    if (e.mtimeNs >= this.racyFromNs || e.ctimeNs >= this.racyFromNs) return undefined;
    return r[9];
  }

  /** Records the content digest of an entry whose stat data was unchanged while it was read. */
  record(e: ContextEntry, digestHex: string): void {
    this.rows.set(e.path, [e.path, String(e.dev), String(e.ino), e.size, String(e.mtimeNs), String(e.ctimeNs), e.mode, e.uid, e.gid, digestHex]);
    this.dirty = true;
  }

  /** Drops entries whose path is not in `keep` (files deleted from the context). */
  prune(keep: { has(path: string): boolean }): void {
    for (const p of this.rows.keys()) {
      if (!keep.has(p)) {
        this.rows.delete(p);
        this.dirty = true;
      }
    }
  }

  /** Writes the cache (temp file + rename) when it changed, then takes its mtime as the racy reference. */
  async save(): Promise<void> {
    if (!this.dirty && this.racyFromNs >= 0) return;
    const entries = [...this.rows.values()];
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: VERSION, context: this.contextDir, entries }));
    await rename(tmp, this.file);
    const st = await stat(this.file, { bigint: true });
    this.racyFromNs = (st.mtimeNs / SECOND) * SECOND;
    this.dirty = false;
  }
}
