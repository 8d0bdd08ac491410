/**
 * `CopySnapshotter`: the fallback when overlayfs cannot be mounted (state dir on overlayfs,
 * old kernels in a user namespace). Each chain of layers is materialized once under
 * `<root>/chains/<chainID hex>/` (parent chain copied, layer applied on top); a snapshot is a
 * real copy of it (`cp -a --reflink=auto`: reflinks where the filesystem has them, never
 * hardlinks, which would hide in-place writes).
 *
 * The diff compares the snapshot to its chain and writes an overlay-upper-like directory that
 * the same layer writer converts: changed and new entries (with their parents), and a 0/0
 * character device for each deleted path. A directory that was replaced wholesale shows up as
 * whiteouts for its removed children instead of an opaque marker (same resulting tree).
 *
 * Change detection trade-off: right after copying, every entry's inode and ctime are recorded.
 * ctime cannot be set from user space, so an entry whose ctime is unchanged is unchanged, and
 * the walk reads no file content for untouched files. A changed ctime triggers a full
 * comparison (type, mode, uid, gid, size, mtime, link target, device number and, for regular
 * files of equal size and mtime, the bytes), so a `touch` that changes nothing is not a change.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, copyFile, link, lstat, lutimes, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { runningInUserNamespace } from '../rootless/idmap.js';
import { digestHex, ensureFilledDir } from './store-dir.js';
import type { LowerLayer, MutableSnapshot, SnapshotDiff, Snapshotter, UpperFormat } from './types.js';

const run = promisify(execFile);

/** OCI ChainID of a list of diffIDs (image-spec config.md). */
export function chainId(diffIds: readonly string[]): string {
  let chain = '';
  for (const d of diffIds) chain = chain === '' ? d : `sha256:${createHash('sha256').update(`${chain} ${d}`).digest('hex')}`;
  return chain;
}

async function lstatBig(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch {
    return undefined;
  }
}

/** Walks a tree depth-first in sorted order, yielding relative paths (no leading slash). */
async function* walk(root: string, rel = ''): AsyncGenerator<string> {
  const names = (await readdir(path.join(root, rel))).sort();
  for (const name of names) {
    const r = rel === '' ? name : `${rel}/${name}`;
    yield r;
    const st = await lstat(path.join(root, r));
    if (st.isDirectory()) yield* walk(root, r);
  }
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const hash = (p: string) =>
    new Promise<string>((resolve, reject) => {
      const h = createHash('sha256');
      createReadStream(p)
        .on('data', (c) => h.update(c))
        .on('end', () => resolve(h.digest('hex')))
        .on('error', reject);
    });
  const [x, y] = await Promise.all([hash(a), hash(b)]);
  return x === y;
}

function kindOf(st: BigIntStats): string {
  if (st.isFile()) return 'f';
  if (st.isDirectory()) return 'd';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

/** Options of {@link CopySnapshotter}. */
export interface CopySnapshotterOptions {
  root: string;
  rootless?: boolean;
}

export class CopySnapshotter implements Snapshotter {
  readonly kind = 'copy' as const;
  readonly root: string;
  readonly format: UpperFormat;

  constructor(options: CopySnapshotterOptions) {
    this.root = path.resolve(options.root);
    this.format = options.rootless ?? runningInUserNamespace() ? 'rootless' : 'root';
  }

  chainDir(diffIds: readonly string[]): string {
    return diffIds.length === 0 ? path.join(this.root, 'chains', 'empty') : path.join(this.root, 'chains', digestHex(chainId(diffIds)));
  }

  async has(lowerDiffIds: readonly string[]): Promise<boolean> {
    return (await lstatBig(this.chainDir(lowerDiffIds))) !== undefined;
  }

  private async ensureChain(lowers: readonly LowerLayer[]): Promise<string> {
    const ids = lowers.map((l) => l.diffId);
    const dir = this.chainDir(ids);
    if (lowers.length === 0) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      return dir;
    }
    const parent = await this.ensureChain(lowers.slice(0, -1));
    return ensureFilledDir(dir, async (tmp) => {
      await run('cp', ['-a', '--reflink=auto', `${parent}/.`, `${tmp}/`]);
      await (lowers[lowers.length - 1] as LowerLayer).apply(tmp, { kind: 'apply' });
    });
  }

  async prepare(lowers: readonly LowerLayer[]): Promise<MutableSnapshot> {
    if (lowers.some((l) => l.dir !== undefined)) throw new Error('the copy snapshotter needs committed lower layers; it cannot stack an uncommitted change dir');
    const lowerDir = await this.ensureChain(lowers);
    const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const base = path.join(this.root, 'snapshots', id);
    const merged = path.join(base, 'merged');
    await mkdir(base, { recursive: true });
    await run('cp', ['-a', '--reflink=auto', lowerDir, merged]);
    // Record inode + ctime of every entry of the fresh copy (see the module comment).
    const baseline = new Map<string, { ino: bigint; ctimeNs: bigint }>();
    for await (const rel of walk(merged)) {
      const st = await lstat(path.join(merged, rel), { bigint: true });
      baseline.set(rel, { ino: st.ino, ctimeNs: st.ctimeNs });
    }
    return new CopySnapshot(this, base, merged, lowerDir, baseline, lowers.map((l) => l.diffId));
  }
}

class CopySnapshot implements MutableSnapshot {
  private result: SnapshotDiff | undefined;
  private released = false;

  constructor(
    private readonly owner: CopySnapshotter,
    private readonly base: string,
    readonly mergedDir: string,
    private readonly lowerDir: string,
    private readonly baseline: Map<string, { ino: bigint; ctimeNs: bigint }>,
    private readonly lowerIds: string[],
  ) {}

  private async changed(rel: string, cur: BigIntStats): Promise<boolean> {
    const b = this.baseline.get(rel);
    if (b && b.ino === cur.ino && b.ctimeNs === cur.ctimeNs) return false;
    const low = await lstatBig(path.join(this.lowerDir, rel));
    if (!low) return true;
    if (kindOf(low) !== kindOf(cur)) return true;
    if (low.mode !== cur.mode || low.uid !== cur.uid || low.gid !== cur.gid) return true;
    if (cur.isDirectory()) return low.mtimeNs !== cur.mtimeNs;
    if (low.mtimeNs !== cur.mtimeNs || low.size !== cur.size) return true;
    if (cur.isSymbolicLink()) return (await readlink(path.join(this.lowerDir, rel))) !== (await readlink(path.join(this.mergedDir, rel)));
    if (cur.isCharacterDevice() || cur.isBlockDevice()) return low.rdev !== cur.rdev;
    if (cur.isFile()) return !(await sameContent(path.join(this.lowerDir, rel), path.join(this.mergedDir, rel)));
    return false;
  }

  async diff(): Promise<SnapshotDiff> {
    if (this.result) return this.result;
    if (this.released) throw new Error('snapshot already released');
    const upper = path.join(this.base, 'upper');
    await mkdir(upper, { mode: 0o755 });
    const copied = new Set<string>();
    const inodes = new Map<bigint, string>();
    const ensureParents = async (rel: string) => {
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        const p = parts.slice(0, i).join('/');
        if (copied.has(p)) continue;
        await this.copyEntry(p, upper, inodes);
        copied.add(p);
      }
    };
    for await (const rel of walk(this.mergedDir)) {
      const st = await lstat(path.join(this.mergedDir, rel), { bigint: true });
      if (!(await this.changed(rel, st))) continue;
      await ensureParents(rel);
      await this.copyEntry(rel, upper, inodes);
      copied.add(rel);
    }
    // Deletions: entries of the lower that are gone (or whose parent stopped being a dir).
    const whiteouts: string[] = [];
    for await (const rel of walk(this.lowerDir)) {
      const parentGone = whiteouts.some((w) => rel.startsWith(w + '/'));
      if (parentGone) continue;
      const cur = await lstatBig(path.join(this.mergedDir, rel));
      if (cur) continue;
      // A parent replaced by a non-directory already hides everything below it.
      const parent = path.posix.dirname(rel);
      if (parent !== '.') {
        const pst = await lstatBig(path.join(this.mergedDir, parent));
        if (!pst || !pst.isDirectory()) continue;
        await ensureParents(rel);
      }
      whiteouts.push(rel);
    }
    if (whiteouts.length > 0) {
      // 0/0 character devices, the overlay whiteout format (Node has no mknod).
      await run('sh', ['-c', 'for p; do mknod "$p" c 0 0 || exit 1; done', 'sh', ...whiteouts.map((w) => path.join(upper, w))]);
    }
    // Parent dirs got their mtime bumped by child creation; restore from merged.
    for (const rel of [...copied].sort().reverse()) {
      const st = await lstat(path.join(this.mergedDir, rel));
      if (st.isDirectory()) await lutimes(path.join(upper, rel), st.atime, st.mtime);
    }
    this.result = { upperDir: upper, format: this.owner.format };
    return this.result;
  }

  private async copyEntry(rel: string, upper: string, inodes: Map<bigint, string>): Promise<void> {
    const src = path.join(this.mergedDir, rel);
    const dst = path.join(upper, rel);
    const st = await lstat(src, { bigint: true });
    if (st.isDirectory()) {
      await mkdir(dst, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    } else if (st.isFile()) {
      const first = st.nlink > 1n ? inodes.get(st.ino) : undefined;
      if (first) {
        await link(path.join(upper, first), dst);
        return;
      }
      await copyFile(src, dst);
      if (st.nlink > 1n) inodes.set(st.ino, rel);
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(src), dst);
    } else {
      // Devices, fifos, sockets: `cp -a` recreates them with the right type and numbers.
      await run('cp', ['-a', src, dst]);
    }
    await chown(dst, Number(st.uid), Number(st.gid)).catch(async (e) => {
      if (!st.isSymbolicLink()) throw e;
    });
    if (!st.isSymbolicLink()) await chmod(dst, Number(st.mode & 0o7777n));
    await lutimes(dst, new Date(Number(st.atimeMs)), new Date(Number(st.mtimeNs / 1000000n)));
  }

  async commit(diffId: string): Promise<void> {
    await this.diff();
    const target = this.owner.chainDir([...this.lowerIds, diffId]);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(this.mergedDir, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await rm(this.base, { recursive: true, force: true });
  }
}

