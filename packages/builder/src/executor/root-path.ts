/**
 * Resolves a path inside a root directory the way the container will see it: symlinks are
 * followed but can never lead outside the root (what containerd's continuity `fs.RootPath`
 * and cyphar/filepath-securejoin do). Used before the container exists, to create the working
 * directory and to find mount targets that are missing, without touching the host.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

const MAX_SYMLINKS = 255;

/**
 * Host path of `unsafePath` scoped to `root`. Components that do not exist are appended
 * as-is. Throws ELOOP after 255 symlinks. The lstat/readlink calls are synchronous: a few per
 * path, each far cheaper than an async call's thread-pool round trip (0.1–0.3 ms under load).
 *
 * @example
 * ```ts
 * // rootfs/etc -> /elsewhere  ⇒  '/s/rootfs/elsewhere/passwd', never the host's /elsewhere
 * await resolveInRoot('/s/rootfs', '/etc/passwd')
 * ```
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  const pending = unsafePath.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let st;
    try {
      st = lstatSync(candidate);
    } catch {
      resolved.push(part, ...pending);
      // Non-existent tail: no more symlinks to follow; normalise '..' lexically.
      return path.join(root, ...normalise([...resolved]));
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw Object.assign(new Error(`too many symlinks resolving ${unsafePath}`), { code: 'ELOOP' });
      const target = readlinkSync(candidate);
      const parts = target.split('/').filter((c) => c !== '' && c !== '.');
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...parts);
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

function normalise(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}
