/**
 * Mounting and unmounting overlays: through the syscall helper when it is available (no process
 * per call), else through util-linux `mount`/`umount`. A failed helper call is retried with the
 * binary, so the error a user sees is always util-linux's familiar message.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BuildError } from '@build-image/errors';
import { constants } from 'node:os';
import { helperMount, helperUnmount } from '../host-helper/index.js';

const run = promisify(execFile);

/** A mount failed; `data.stderr` has util-linux's message (details are often only in dmesg). Code `E_MOUNT_FAILED`. */
export class MountError extends BuildError {
  override readonly name = 'MountError';
  constructor(message: string, data: Record<string, unknown>) {
    super('E_MOUNT_FAILED', message, { data });
  }
}

/** Mounts an overlay at `target` with the given option string. `cwd` lets options use relative paths. */
export async function mountOverlay(target: string, options: string, cwd?: string): Promise<void> {
  if ((await helperMount('overlay', target, 'overlay', options, cwd ?? '')) === 0) return;
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], { ...(cwd ? { cwd } : {}) });
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
    throw new MountError(
      `Could not mount an overlay at ${target}: ${stderr}. The state dir must not be on overlayfs (e.g. inside a container without a volume); rootless overlay needs Linux ≥ 5.11. Use the copy snapshotter (mode: 'copy') otherwise.`,
      { target, options, stderr },
    );
  }
}

/** Unmounts `target`, retrying while busy and detaching lazily as a last resort. */
export async function unmount(target: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const errno = await helperUnmount(target);
    const { EINVAL, ENOENT, EBUSY } = constants.errno;
    if (errno === 0 || errno === EINVAL || errno === ENOENT) return; // EINVAL: not a mount point
    if (errno !== EBUSY) {
      try {
        await run('umount', [target]);
        return;
      } catch (e) {
        const stderr = String((e as { stderr?: string }).stderr ?? '');
        if (/not mounted|no mount point|not found/i.test(stderr)) return;
      }
    }
    await new Promise((r) => setTimeout(r, 20 * (i + 1)));
  }
  if ((await helperUnmount(target, 2)) === 0) return;
  await run('umount', ['-l', target]).catch(() => undefined);
}
