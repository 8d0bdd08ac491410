import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '@build-image/errors';

const MAX_SYMLINKS = 255;

/**
 * Paths inside a root filesystem (an image rootfs, a build context, a layer being extracted),
 * shared by every part that reads or writes one: layer extraction, COPY, the executor's mount
 * targets, USER lookups.
 */

/**
 * Resolves `p` inside `root` as if `root` were `/`: every symlink met on the way is followed
 * with absolute targets re-rooted at `root` and `..` clamped at `root` (containerd's
 * `fs.RootPath`). The result is always `root` or a path below it, so a rootfs or a build
 * context can never make a write land outside it.
 *
 * Components that do not exist are appended as they are. With `followFinal: false` the last
 * component is not resolved (what `lstat`-style operations such as creating a symlink need).
 *
 * @example
 * ```ts
 * // with /r/etc/alt -> /etc/real inside the root:
 * await resolveInRoot('/r', '/etc/alt/x')       // '/r/etc/real/x'
 * await resolveInRoot('/r', '../../etc/passwd') // '/r/etc/passwd'
 * ```
 */
export async function resolveInRoot(root: string, p: string, options: { followFinal?: boolean } = {}): Promise<string> {
  const followFinal = options.followFinal ?? true;
  const pending = splitPath(p);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    if (pending.length === 0 && !followFinal) {
      resolved.push(part);
      break;
    }
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new BuildError('E_SYMLINK_LOOP', `too many levels of symbolic links resolving ${p} inside ${root}`, { data: { path: p } });
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...splitPath(target));
  }
  return path.join(root, ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}

/**
 * True when `path` is `root` or below it (lexically).
 *
 * @example
 * ```ts
 * isInside('/r', '/r/a') // true
 * isInside('/r', '/ra')  // false
 * ```
 */
export function isInside(root: string, p: string): boolean {
  const r = path.resolve(root);
  const q = path.resolve(p);
  return q === r || q.startsWith(r.endsWith('/') ? r : `${r}/`);
}

/**
 * ENOENT or ENOTDIR: the path (or one of its parents) does not exist as a directory.
 *
 * @example
 * ```ts
 * const st = await lstat(p).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)))
 * ```
 */
export function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR');
}
