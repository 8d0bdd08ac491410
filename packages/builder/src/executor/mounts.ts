/**
 * Turns the solver's `ExecMount`s into runtime-spec mounts, creating what they need on the host:
 * cache directories (with owner and mode on first use), secret files (in a private tmpfs-backed
 * directory outside the rootfs, never in the snapshot), and a throw-away overlay for read-write
 * bind mounts so writes never reach the source.
 */
import { rmSync } from 'node:fs';
import { chmod, chown, copyFile, cp, lstat, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecMount, RuntimeMount } from './types.js';

/** Options of {@link prepareMounts}. */
export interface PrepareMountsOptions {
  /** Private per-run directory (not inside the rootfs) for overlay upper/work dirs and copies. */
  scratchDir: string;
  /** Private per-run directory for secrets; best on a tmpfs such as /dev/shm. Mode 0700. */
  secretsDir: string;
  /** Inside a user namespace overlay needs `userxattr`. */
  rootless: boolean;
}

/** Result of {@link prepareMounts}. */
export interface PreparedMounts {
  mounts: RuntimeMount[];
  /** Mount targets (container paths), for stub tracking. */
  targets: string[];
}

// Characters that cannot be passed inside overlay's comma-separated option string.
const OVERLAY_UNSAFE = /[,:\\]/;

async function ensureCacheDir(m: Extract<ExecMount, { type: 'cache' }>): Promise<void> {
  try {
    const st = await stat(m.hostDir);
    if (!st.isDirectory()) throw new Error(`cache mount source ${m.hostDir} is not a directory`);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(path.dirname(m.hostDir), { recursive: true });
  await mkdir(m.hostDir, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await chown(m.hostDir, m.uid ?? 0, m.gid ?? 0);
  await chmod(m.hostDir, m.mode ?? 0o755);
}

/**
 * Prepares every mount of a step, in order. Nothing is mounted on the host: runc performs all
 * mounts inside the container's mount namespace, so they vanish with it.
 */
export async function prepareMounts(mounts: readonly ExecMount[], options: PrepareMountsOptions): Promise<PreparedMounts> {
  const out: RuntimeMount[] = [];
  const targets: string[] = [];
  let n = 0;
  for (const m of mounts) {
    const target = path.posix.join('/', m.target);
    targets.push(target);
    const idx = n++;
    switch (m.type) {
      case 'bind': {
        if (m.readonly ?? true) {
          out.push({ destination: target, type: 'bind', source: m.source, options: ['rbind', 'ro'] });
          break;
        }
        const st = await stat(m.source);
        const base = path.join(options.scratchDir, `bind-${idx}`);
        if (st.isDirectory() && !OVERLAY_UNSAFE.test(m.source) && !OVERLAY_UNSAFE.test(base)) {
          await mkdir(path.join(base, 'upper'), { recursive: true });
          await mkdir(path.join(base, 'work'), { recursive: true });
          const opts = [`lowerdir=${m.source}`, `upperdir=${path.join(base, 'upper')}`, `workdir=${path.join(base, 'work')}`];
          if (options.rootless) opts.push('userxattr');
          out.push({ destination: target, type: 'overlay', source: 'overlay', options: opts });
        } else {
          // Files (and paths overlay cannot express) get a private copy instead.
          await mkdir(base, { recursive: true });
          const copy = path.join(base, 'copy');
          if (st.isDirectory()) await cp(m.source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
          else await copyFile(m.source, copy);
          out.push({ destination: target, type: 'bind', source: copy, options: ['rbind', 'rw'] });
        }
        break;
      }
      case 'cache':
        await ensureCacheDir(m);
        out.push({ destination: target, type: 'bind', source: m.hostDir, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
        break;
      case 'tmpfs': {
        const opts = ['nosuid'];
        if (m.size !== undefined && m.size > 0) opts.push(`size=${m.size}`);
        out.push({ destination: target, type: 'tmpfs', source: 'tmpfs', options: opts });
        break;
      }
      case 'secret': {
        await mkdir(options.secretsDir, { recursive: true, mode: 0o700 });
        const file = path.join(options.secretsDir, `secret-${idx}`);
        if (m.content === undefined && m.hostFile === undefined) throw new Error(`secret mount at ${target} has neither hostFile nor content`);
        const data = m.content !== undefined ? m.content : await readFile(m.hostFile as string);
        await writeFile(file, data, { mode: 0o600 });
        await chown(file, m.uid ?? 0, m.gid ?? 0);
        await chmod(file, m.mode ?? 0o400);
        out.push({ destination: target, type: 'bind', source: file, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
        break;
      }
      case 'ssh': {
        await lstat(m.socketPath);
        out.push({ destination: target, type: 'bind', source: m.socketPath, options: ['rbind'] });
        break;
      }
    }
  }
  return { mounts: out, targets };
}

/** Removes what {@link prepareMounts} created, including the private copies of secrets. */
export async function cleanupPreparedMounts(options: PrepareMountsOptions): Promise<void> {
  // Synchronous: usually two absent dirs, where an async rm is two thread-pool round trips per RUN.
  rmSync(options.secretsDir, { recursive: true, force: true });
  rmSync(options.scratchDir, { recursive: true, force: true });
}
