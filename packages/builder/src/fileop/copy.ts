import { chmodSync, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { copyFile, lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '@build-image/errors';
import { resolveInRoot, isNotFound } from '../rootfs/resolve.js';
import type { ChmodSpec } from '@build-image/parser';
import { applyChmod } from './mode.js';

/** Owner given with `--chown`, already resolved to numbers. */
export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Decides which entries below a copy source take part. `rel` is relative to the source root
 * (the build context or the other stage's root), `relToSource` relative to the copied path.
 * `include: false` skips an entry; for a directory `descend: true` still looks inside it
 * (an exception pattern may re-include something below), creating it only if something is copied.
 */
export type CopyFilter = (entry: { rel: string; relToSource: string; isDir: boolean }) => { include: boolean; descend: boolean };

export interface CopyOptions {
  /** Host directory that is `/` of the source (context dir, another stage's root, a temp dir). */
  srcRoot: string;
  /** Path of the source inside srcRoot, without wildcards (the caller expands them). */
  src: string;
  /** Host directory that is `/` of the destination root filesystem. */
  destRoot: string;
  /** Absolute destination inside destRoot, already resolved against WORKDIR; a trailing `/` means "a directory". */
  dest: string;
  /** COPY semantics: a directory source copies its contents, not itself. */
  copyDirContents: boolean;
  /** Follow a symlink named by `src` itself (entries below are always copied as symlinks). */
  followSymlinks: boolean;
  /** `--chown`; without it, `preserveOwner` decides (true for --from stages, false → 0:0 for the context). */
  owner?: Owner;
  preserveOwner: boolean;
  /** `--chmod`. */
  mode?: ChmodSpec;
  filter?: CopyFilter;
}

const DEFAULT_DIR_MODE = 0o755;

/**
 * Files up to this size are copied with a synchronous call; bigger ones asynchronously, so a
 * large file does not hold up the event loop. Everything else per entry (lstat, mkdir, chown,
 * chmod, utimes, links) is synchronous: a COPY of 2,000 small files waited ~2 s on ~12,000
 * thread-pool round trips in sequence, each costing more than the syscall it carried.
 */
const SYNC_COPY_BYTES = 1024 * 1024;

/**
 * Copies one source into a root filesystem with BuildKit's FileOp semantics (fsutil `copy.Copy`):
 * parents of the destination are created (0755, or the octal `--chmod`, owned by `--chown`),
 * a file onto an existing directory lands inside it, directories merge, hardlinks inside the
 * copied tree stay hardlinks, modes and mtimes are preserved, ownership is `--chown`, the
 * source's own (another stage) or 0:0 (the build context). Every write is resolved inside
 * `destRoot`, and every read inside `srcRoot`, so symlinks on either side cannot escape.
 *
 * @example
 * ```ts
 * await copyIntoRoot({ srcRoot: contextDir, src: '/src', destRoot: snapshot.mergedDir, dest: '/app/',
 *   copyDirContents: true, followSymlinks: true, preserveOwner: false, owner: { uid: 1000, gid: 1000 } })
 * ```
 */
export async function copyIntoRoot(options: CopyOptions): Promise<void> {
  const { dest, destRoot } = options;
  const base = path.posix.basename(dest);
  const ensure = dest.endsWith('/') || base === '' || base === '.' ? dest : path.posix.dirname(dest);
  const dirMode = options.mode?.kind === 'octal' ? options.mode.mode : DEFAULT_DIR_MODE;
  await mkdirAllInRoot(destRoot, ensure, dirMode, options.owner ?? { uid: 0, gid: 0 });

  let target = await resolveInRoot(destRoot, path.posix.normalize(dest));
  const srcPath = await resolveSource(options.srcRoot, options.src, options.followSymlinks);
  const srcStat = await lstat(srcPath).catch((e: unknown) => {
    if (isNotFound(e)) throw new BuildError('E_SOURCE_NOT_FOUND', `${options.src}: not found`, { data: { source: options.src } });
    throw e;
  });
  const destStat = await stat(target).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  if ((!options.copyDirContents && srcStat.isDirectory() && destStat) || (!srcStat.isDirectory() && destStat?.isDirectory())) {
    target = path.join(target, path.posix.basename(options.src));
  }
  const parent = options.copyDirContents && srcStat.isDirectory() && !destStat ? target : path.dirname(target);
  await mkdirAllInRoot(destRoot, '/' + path.relative(destRoot, parent), dirMode, options.owner ?? { uid: 0, gid: 0 });

  const copier = new Copier(options);
  const srcRel = path.relative(options.srcRoot, srcPath).split(path.sep).join('/');
  await copier.copy(srcPath, srcRel, '', target, false, srcStat);
}

async function resolveSource(root: string, src: string, follow: boolean): Promise<string> {
  const clean = path.posix.join('/', src);
  if (clean === '/') return root;
  if (follow) return resolveInRoot(root, clean);
  return path.join(await resolveInRoot(root, path.posix.dirname(clean)), path.posix.basename(clean));
}

/**
 * `mkdir -p` inside a root: created directories get `mode` and `owner`; existing ones are left alone.
 *
 * @example
 * ```ts
 * const created = await mkdirAllInRoot(snapshot.mergedDir, '/app/data', 0o755, { uid: 0, gid: 0 }) // host paths it made
 * ```
 */
export async function mkdirAllInRoot(root: string, dir: string, mode: number, owner: Owner): Promise<string[]> {
  // Resolve first: every symlink on the way is followed inside the root, so what is left are
  // real directories and missing components to create.
  const resolved = await resolveInRoot(root, dir);
  const created: string[] = [];
  let current = root;
  for (const part of path.relative(root, resolved).split(path.sep).filter((p) => p !== '')) {
    current = path.join(current, part);
    const st = lstatSync(current, { throwIfNoEntry: false });
    if (!st) {
      mkdirSync(current, { mode });
      chmodSync(current, mode); // mkdir applies the process umask
      lchownSync(current, owner.uid, owner.gid);
      created.push(current);
    } else if (!st.isDirectory()) {
      throw new BuildError('E_NOT_A_DIRECTORY', `cannot copy to non-directory: ${'/' + path.relative(root, current)}`, { data: { path: current } });
    }
  }
  return created;
}

interface PendingDir {
  src: string;
  dst: string;
  stat: Stats;
  created: boolean;
}

class Copier {
  private readonly inodes = new Map<string, string>();
  private readonly pending: PendingDir[] = [];
  constructor(private readonly options: CopyOptions) {}

  async copy(src: string, rel: string, relToSource: string, target: string, overwriteMeta: boolean, known?: Stats): Promise<void> {
    const st = known ?? lstatSync(src);
    let include = true;
    let descend = true;
    if (relToSource !== '' && this.options.filter) {
      ({ include, descend } = this.options.filter({ rel, relToSource, isDir: st.isDirectory() }));
      if (!include && (!st.isDirectory() || !descend)) return;
    }
    if (include) await this.createPendingParents();

    if (st.isDirectory()) {
      const created = include ? this.ensureDir(target, st, overwriteMeta) : false;
      this.pending.push({ src, dst: target, stat: st, created: include });
      try {
        const names = readdirSync(src).sort();
        for (const name of names) {
          await this.copy(path.join(src, name), rel === '' ? name : `${rel}/${name}`, relToSource === '' ? name : `${relToSource}/${name}`, path.join(target, name), true);
        }
      } finally {
        this.pending.pop();
      }
      if (include && (created || overwriteMeta)) this.copyInfo(st, target);
      return;
    }

    removeNonDir(target);
    if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const linked = st.nlink > 1 ? this.inodes.get(key) : undefined;
      if (linked) {
        linkSync(linked, target);
        return;
      }
      if (st.size <= SYNC_COPY_BYTES) copyFileSync(src, target);
      else await copyFile(src, target);
      if (st.nlink > 1) this.inodes.set(key, target);
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), target);
    } else {
      // Devices, fifos and sockets in a copy source: BuildKit recreates devices; a rootless
      // engine cannot mknod, and build contexts do not carry them, so they are skipped.
      return;
    }
    this.copyInfo(st, target);
  }

  /** Directories whose creation was delayed because they were excluded but descended into. */
  private async createPendingParents(): Promise<void> {
    for (const dir of this.pending) {
      if (dir.created) continue;
      const made = this.ensureDir(dir.dst, dir.stat, false);
      if (made) this.copyInfo(dir.stat, dir.dst);
      dir.created = true;
    }
  }

  private ensureDir(target: string, st: Stats, overwriteMeta: boolean): boolean {
    const existing = lstatSync(target, { throwIfNoEntry: false });
    if (!existing) {
      mkdirSync(target);
      return true;
    }
    if (!existing.isDirectory()) {
      throw new BuildError('E_NOT_A_DIRECTORY', `cannot copy to non-directory: ${'/' + path.relative(this.options.destRoot, target)}`, { data: { path: target } });
    }
    if (overwriteMeta) chmodSync(target, this.modeFor(st));
    return false;
  }

  private modeFor(st: Stats): number {
    const perm = st.mode & 0o7777;
    return this.options.mode ? applyChmod(this.options.mode, perm, st.isDirectory()) : perm;
  }

  private copyInfo(st: Stats, target: string): void {
    const owner = this.options.owner ?? (this.options.preserveOwner ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });
    lchownSync(target, owner.uid, owner.gid);
    if (!st.isSymbolicLink()) chmodSync(target, this.modeFor(st));
    lutimesSync(target, st.atime, st.mtime);
  }
}

function removeNonDir(target: string): void {
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (!existing) return;
  if (existing.isDirectory()) {
    throw new BuildError('E_NOT_A_DIRECTORY', `cannot replace directory ${target} with a file`, { data: { path: target } });
  }
  unlinkSync(target);
}


