/**
 * Temp-then-rename file writes: the only way anything appears in the cache. A reader (in any
 * process) sees the old file or the new one, never a torn one, and a crashed writer leaves only a
 * file under `tmp/` that {@link ContentStore.cleanTemp} removes later by age.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mapFsError } from './errors.js';

/** A fresh, unique temp file name in `tmpDir`. The pid helps a human tell whose write it was. */
export function tempPath(tmpDir: string): string {
  return join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
}

/** fsync a directory so a rename into it survives a power loss. Best effort: not every FS allows it. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems (and some container overlays) refuse fsync on directories; the rename
    // itself is still atomic, only its durability across a power cut is weaker there.
  } finally {
    await fh?.close().catch(() => {});
  }
}

export interface AtomicWriteOptions {
  /** File mode of the final file. */
  mode?: number;
  /** Set the final file's mtime (ms since epoch) before it becomes visible. */
  mtimeMs?: number;
  /** fsync the data (and the directory after the rename). Default true. */
  durable?: boolean;
}

/** Writes `data` to `dest` via a temp file in `tmpDir` (which must be on the same file system). */
export async function writeFileAtomic(tmpDir: string, dest: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const durable = options.durable ?? true;
  const tmp = tempPath(tmpDir);
  try {
    await mkdir(tmpDir, { recursive: true });
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    if (options.mtimeMs !== undefined) {
      const t = options.mtimeMs / 1000;
      await utimes(tmp, t, t);
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(tmp, dest);
    if (durable) await fsyncDir(dirname(dest));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw mapFsError(e, dest);
  }
}

/**
 * Makes `dest` another name of `existing` (a hard link), replacing whatever `dest` was, atomically.
 * Falls back to a copy where hard links are not supported.
 */
export async function linkAtomic(tmpDir: string, existing: string, dest: string, fallbackData: () => Promise<Uint8Array>): Promise<void> {
  const tmp = tempPath(tmpDir);
  try {
    await mkdir(tmpDir, { recursive: true });
    try {
      await link(existing, tmp);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw e;
      await writeFileAtomic(tmpDir, dest, await fallbackData());
      return;
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw mapFsError(e, dest);
  }
}
