/**
 * Picks the snapshotter: overlay when an overlay mount works in the state dir (tried once per
 * root and remembered), the copy snapshotter otherwise.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { runningInUserNamespace } from '../rootless/idmap.js';
import { CopySnapshotter } from './copy.js';
import { mountOverlay, unmount } from './mount.js';
import { OverlaySnapshotter } from './overlay.js';
import type { Snapshotter } from './types.js';

/** Options of {@link createSnapshotter}. */
export interface CreateSnapshotterOptions {
  /** State directory (must not be on overlayfs for overlay mode). */
  root: string;
  /** `auto` (default) tries overlay once and falls back to copy. */
  mode?: 'auto' | 'overlay' | 'copy';
  /** Default: detected from /proc/self/uid_map. */
  rootless?: boolean;
}

const probed = new Map<string, Promise<boolean>>();

/**
 * True when an overlay with this process's options can be mounted under `root`: mounts a
 * one-file overlay, writes through it and unmounts.
 */
export function overlayWorks(root: string, rootless: boolean): Promise<boolean> {
  const key = `${path.resolve(root)}|${rootless}`;
  let p = probed.get(key);
  if (!p) {
    p = (async () => {
      const dir = path.join(root, `probe-${randomBytes(4).toString('hex')}`);
      const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(dir, d)) as [string, string, string, string];
      try {
        for (const d of [lower, upper, work, merged]) await mkdir(d, { recursive: true });
        await writeFile(path.join(lower, 'f'), 'x');
        const opts = rootless ? 'userxattr' : 'redirect_dir=off,index=off,metacopy=off';
        await mountOverlay(merged, `lowerdir=${lower},upperdir=${upper},workdir=${work},${opts}`);
        try {
          await writeFile(path.join(merged, 'f'), 'y');
          return (await readFile(path.join(upper, 'f'), 'utf8')) === 'y';
        } finally {
          await unmount(merged);
        }
      } catch {
        return false;
      } finally {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    probed.set(key, p);
  }
  return p;
}

/**
 * Creates the snapshotter for a state root.
 *
 * @example
 * ```ts
 * const snapshotter = await createSnapshotter({ root: '/var/tmp/bi/snapshots' });
 * const snap = await snapshotter.prepare([{ diffId, apply: (dir, mode) => applyLayer(dir, open(), mode) }]);
 * ```
 */
export async function createSnapshotter(options: CreateSnapshotterOptions): Promise<Snapshotter> {
  const rootless = options.rootless ?? runningInUserNamespace();
  const mode = options.mode ?? 'auto';
  const root = path.resolve(options.root);
  await mkdir(root, { recursive: true });
  if (mode === 'copy') return new CopySnapshotter({ root: path.join(root, 'copy'), rootless });
  if (mode === 'overlay' || (await overlayWorks(root, rootless))) return new OverlaySnapshotter({ root: path.join(root, 'overlay'), rootless });
  return new CopySnapshotter({ root: path.join(root, 'copy'), rootless });
}
