/**
 * Mount-point stubs: runc creates a missing mount target (and its missing parents) inside the
 * rootfs, which would leak an empty file or directory into the layer. Like BuildKit's
 * `MountStubsCleaner` (recursive mode), the paths that did not exist before the run are
 * recorded, and afterwards those still empty are removed deepest-first, restoring the
 * parent's timestamps so the parent does not look modified.
 */
import { lstatSync } from 'node:fs';
import { lstat, readdir, rmdir, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from './root-path.js';

interface StubRecord {
  /** Host path of a path component that did not exist. */
  hostPath: string;
  /** Timestamps of its parent before the run. */
  parentAtime: Date;
  parentMtime: Date;
}

/** Paths that are runtime mounts BuildKit does not clean (kept in the layer when created). */
export const RUNTIME_MOUNT_POINTS = ['/proc', '/dev', '/sys'] as const;

/** Synchronous on purpose: called a dozen times per RUN, where async round trips dominate. */
async function exists(p: string): Promise<boolean> {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

async function missingChain(rootfs: string, target: string): Promise<StubRecord[]> {
  const clean = path.posix.join('/', target);
  if (clean === '/') return [];
  let real: string;
  try {
    real = await resolveInRoot(rootfs, clean);
  } catch {
    return [];
  }
  if (await exists(real)) return [];
  const chain: string[] = [real];
  let cur = real;
  while (true) {
    const parent = path.dirname(cur);
    if (parent === cur || parent.length <= rootfs.length || (await exists(parent))) break;
    chain.unshift(parent);
    cur = parent;
  }
  const out: StubRecord[] = [];
  const top = chain[0] as string;
  let parentAtime = new Date(0);
  let parentMtime = new Date(0);
  try {
    const st = await lstat(path.dirname(top));
    parentAtime = st.atime;
    parentMtime = st.mtime;
  } catch {
    /* parent is the rootfs itself or unreadable */
  }
  for (const p of chain) out.push({ hostPath: p, parentAtime, parentMtime });
  return out;
}

/** What {@link recordMountStubs} returns. */
export interface MountStubs {
  /** Removes the still-empty stubs of the cleanable targets; returns runtime stubs that remain (relative paths). */
  cleanup(): Promise<string[]>;
}

/**
 * Records which of `targets` (absolute paths inside the container) and of the runtime mount
 * points do not exist in `rootfs` yet. Call before starting the container.
 */
export async function recordMountStubs(rootfs: string, targets: readonly string[]): Promise<MountStubs> {
  const cleanable: StubRecord[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    for (const r of await missingChain(rootfs, t)) {
      if (seen.has(r.hostPath)) continue;
      seen.add(r.hostPath);
      cleanable.push(r);
    }
  }
  const runtime: string[] = [];
  for (const t of RUNTIME_MOUNT_POINTS) if (!(await exists(path.join(rootfs, t)))) runtime.push(path.join(rootfs, t));
  return {
    async cleanup() {
      // Deepest first, so a chain a/b/c goes c, b, a.
      const ordered = [...cleanable].sort((a, b) => b.hostPath.length - a.hostPath.length);
      for (const r of ordered) {
        let st;
        try {
          st = await lstat(r.hostPath);
        } catch {
          continue;
        }
        try {
          if (st.isDirectory()) {
            if ((await readdir(r.hostPath)).length !== 0) continue;
            await rmdir(r.hostPath);
          } else {
            if (st.size !== 0) continue;
            await unlink(r.hostPath);
          }
        } catch {
          continue;
        }
        const parent = path.dirname(r.hostPath);
        if (!seen.has(parent)) await utimes(parent, r.parentAtime, r.parentMtime).catch(() => undefined);
      }
      const left: string[] = [];
      for (const p of runtime) if (await exists(p)) left.push(path.relative(rootfs, p));
      return left;
    },
  };
}
