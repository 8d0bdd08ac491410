/**
 * Path resolution that treats a directory as `/`: symlinks met on the way are followed, but an
 * absolute target restarts at the root and `..` never climbs above it. The same rule as
 * containerd/continuity's `fs.RootPath`, so a layer cannot reach outside the root through a
 * symlink an earlier layer (or an earlier entry) planted, e.g. `evil -> /etc` then `evil/passwd`.
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { LayerError } from './errors.js';

const MAX_LINKS = 255;

/**
 * Resolves `unsafePath` (absolute or relative, any `..`) inside `root`, following every symlink
 * component (including the last) with `root` as `/`. Components that do not exist are kept as
 * plain names. The result always starts with `root`.
 *
 * @example
 * // with /r/evil -> /etc
 * await resolveInRoot('/r', 'evil/passwd') // '/r/etc/passwd'
 * await resolveInRoot('/r', '../../x')     // '/r/x'
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  const base = posix.resolve(root);
  let pending = unsafePath.split('/');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const comp = pending.shift()!;
    if (comp === '' || comp === '.') continue;
    if (comp === '..') {
      resolved.pop();
      continue;
    }
    const candidate = posix.join(base, ...resolved, comp);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    }
    if (!isLink) {
      resolved.push(comp);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new LayerError('E_LAYER_TOO_MANY_LINKS', `Too many levels of symbolic links resolving "${unsafePath}" inside ${root}.`, { data: { path: unsafePath, root } });
    }
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return resolved.length === 0 ? base : posix.join(base, ...resolved);
}

/** True when `path` is `root` or below it (lexically). */
export function isInside(root: string, path: string): boolean {
  const r = posix.resolve(root);
  const p = posix.resolve(path);
  return p === r || p.startsWith(r.endsWith('/') ? r : `${r}/`);
}
