/**
 * Picks the snapshotter: overlay when an overlay mount works in the state dir (tried once per
 * root and remembered, in memory and on disk), the copy snapshotter otherwise.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, statfsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
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

/** File in the state root that remembers a successful probe (see {@link probeIdentity}). */
export const PROBE_FILE = 'overlay-probe.json';

/**
 * What decides whether the probe's answer still holds: the kernel, the filesystem the root is on
 * (device and type), who we are (uid, user namespace or not) and which capabilities we have
 * (CAP_SYS_ADMIN for mount). A moved state dir, another kernel or fewer privileges all probe again.
 */
function probeIdentity(root: string, rootless: boolean): string {
  let caps = '';
  try {
    caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  } catch {
    /* no /proc: the identity just lacks it */
  }
  const st = statSync(root);
  const fsType = statfsSync(root).type;
  return JSON.stringify({ v: 1, kernel: os.release(), dev: st.dev, ino: st.ino, fsType, uid: process.geteuid?.() ?? -1, rootless, caps });
}

function rememberedWorks(root: string, identity: string): boolean {
  try {
    return readFileSync(path.join(root, PROBE_FILE), 'utf8') === identity;
  } catch {
    return false;
  }
}

/**
 * True when an overlay with this process's options can be mounted under `root`: mounts a
 * one-file overlay, writes through it and unmounts. A success is written to `root/overlay-probe.json`
 * with {@link probeIdentity}, so later processes on the same state dir skip the mount + umount
 * (~25 ms per build: two process spawns and the umount's sync); a failure is never remembered.
 */
export function overlayWorks(root: string, rootless: boolean): Promise<boolean> {
  const key = `${path.resolve(root)}|${rootless}`;
  let p = probed.get(key);
  if (!p) {
    p = (async () => {
      let identity: string | undefined;
      try {
        identity = probeIdentity(root, rootless);
        if (rememberedWorks(root, identity)) return true;
      } catch {
        identity = undefined;
      }
      const works = await probeOverlay(root, rootless);
      if (works && identity !== undefined) {
        // Written whole then renamed, so a reader never sees half a file.
        const tmp = path.join(root, `${PROBE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}`);
        await writeFile(tmp, identity)
          .then(() => rename(tmp, path.join(root, PROBE_FILE)))
          .catch(() => rm(tmp, { force: true }).catch(() => undefined));
      }
      return works;
    })();
    probed.set(key, p);
  }
  return p;
}

/** The probe itself: mount a one-file overlay under `root`, write through it, unmount. */
async function probeOverlay(root: string, rootless: boolean): Promise<boolean> {
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
