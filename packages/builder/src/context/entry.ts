/**
 * One file-system entry of a build context, as BuildKit's context sender sees it (lstat, symlinks
 * never followed).
 */
import type { BigIntStats } from 'node:fs';

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device';

export interface ContextEntry {
  /** Slash-separated path relative to the context root, no leading `./` or trailing `/`. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode: number;
  uid: number;
  gid: number;
  /** Size in bytes (the target length for a symlink). */
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  dev: bigint;
  ino: bigint;
  nlink: number;
  /** Device number for char/block devices. */
  rdev: bigint;
  /** Target of a symlink, exactly as stored. */
  linkTarget?: string;
}

/** Maps lstat's file type bits to an {@link EntryType}. */
export function entryTypeOf(st: BigIntStats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

/** Builds a {@link ContextEntry} from a bigint lstat result. */
export function toEntry(relPath: string, st: BigIntStats, linkTarget?: string): ContextEntry {
  const e: ContextEntry = {
    path: relPath,
    type: entryTypeOf(st),
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    dev: st.dev,
    ino: st.ino,
    nlink: Number(st.nlink),
    rdev: st.rdev,
  };
  if (linkTarget !== undefined) e.linkTarget = linkTarget;
  return e;
}
