/**
 * Content-addressed directories that are filled once: the first caller fills a private temp
 * dir and renames it into place; concurrent callers in this process share the promise, and a
 * concurrent process that loses the rename race discards its copy.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

const inflight = new Map<string, Promise<string>>();

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Returns `finalDir`, calling `fill(tempDir)` first when it does not exist yet. */
export function ensureFilledDir(finalDir: string, fill: (tempDir: string) => Promise<void>): Promise<string> {
  const existing = inflight.get(finalDir);
  if (existing) return existing;
  const p = (async () => {
    if (await isDir(finalDir)) return finalDir;
    await mkdir(path.dirname(finalDir), { recursive: true });
    const tmp = `${finalDir}.tmp-${randomBytes(6).toString('hex')}`;
    await mkdir(tmp, { mode: 0o755 });
    try {
      await fill(tmp);
      try {
        await rename(tmp, finalDir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isDir(finalDir))) {
          await rm(tmp, { recursive: true, force: true });
          return finalDir;
        }
        throw e;
      }
      return finalDir;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
  })().finally(() => inflight.delete(finalDir));
  inflight.set(finalDir, p);
  return p;
}

/** The hex part of `sha256:<hex>` (or the input when it has no algorithm prefix). */
export function digestHex(digest: string): string {
  const i = digest.indexOf(':');
  return i === -1 ? digest : digest.slice(i + 1);
}
