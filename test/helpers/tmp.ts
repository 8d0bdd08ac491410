/**
 * Temporary directories and inline file trees for tests.
 *
 * Every directory made by {@link makeTempDir} is recorded and removed by {@link cleanupTempDirs}
 * (call it from `afterAll`/`afterEach`) or, at the latest, when the test process exits.
 *
 * @example
 * ```ts
 * import { makeTempDir, writeTree, cleanupTempDirs } from '../../../test/helpers/tmp.js';
 * afterAll(cleanupTempDirs);
 * const dir = await makeTempDir('ctx-');
 * await writeTree(dir, { 'a/b.txt': 'x', link: { symlink: '../b' }, 'd/': { dir: true, mode: 0o700 } });
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const made = new Set<string>();
let exitHookInstalled = false;

function remember(dir: string): string {
  made.add(dir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort when a test forgets cleanupTempDirs: synchronous, because 'exit' cannot await.
    process.once('exit', () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/**
 * Creates a fresh directory under the OS temp dir (`os.tmpdir()/<prefix>XXXXXX`) and registers it
 * for clean-up.
 */
export async function makeTempDir(prefix = 'build-image-test-'): Promise<string> {
  return remember(await mkdtemp(path.join(os.tmpdir(), prefix)));
}

/** Synchronous {@link makeTempDir}, for use at module level or in synchronous set-up code. */
export function makeTempDirSync(prefix = 'build-image-test-'): string {
  return remember(mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** Removes every directory made by {@link makeTempDir} so far. Safe to call more than once. */
export async function cleanupTempDirs(): Promise<void> {
  const dirs = [...made];
  made.clear();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/** A regular file with options. */
export interface FileSpec {
  content: string | Uint8Array;
  /** Permission bits, default 0o644. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Modification time in seconds since the epoch. */
  mtime?: number;
}
/** A directory (also expressed by a key ending in `/`). */
export interface DirSpec {
  dir: true;
  /** Permission bits, default 0o755. */
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
}
/** A symbolic link pointing at `symlink` (kept verbatim, may dangle). */
export interface SymlinkSpec {
  symlink: string;
}
/** One entry of a tree: a string or bytes is a file with default mode. */
export type TreeEntry = string | Uint8Array | FileSpec | DirSpec | SymlinkSpec;
/** Relative path → entry. Parent directories are created as needed (mode 0o755). */
export type Tree = Record<string, TreeEntry>;

/**
 * Writes an inline file tree under `dir`. Keys are POSIX relative paths; a key ending in `/` is a
 * directory. Entries are written in sorted key order so that parents given explicitly keep their
 * mode even when a child is listed too (modes are applied after all children are written).
 *
 * @example
 * ```ts
 * await writeTree(dir, {
 *   'a/b.txt': 'x',
 *   'run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
 *   link: { symlink: '../b' },
 *   'd/': { dir: true, mode: 0o700 },
 * });
 * ```
 */
export async function writeTree(dir: string, tree: Tree): Promise<void> {
  const dirsToFix: Array<{ p: string; spec: DirSpec }> = [];
  for (const key of Object.keys(tree).sort()) {
    const entry = tree[key]!;
    const rel = key.replace(/\/+$/, '');
    if (rel === '' || rel.split('/').includes('..')) throw new Error(`writeTree: bad path ${JSON.stringify(key)}`);
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    if (typeof entry === 'object' && !(entry instanceof Uint8Array) && 'symlink' in entry) {
      await symlink(entry.symlink, p);
    } else if (key.endsWith('/') || (typeof entry === 'object' && !(entry instanceof Uint8Array) && 'dir' in entry)) {
      await mkdir(p, { recursive: true });
      const spec: DirSpec = typeof entry === 'object' && !(entry instanceof Uint8Array) && 'dir' in entry ? entry : { dir: true };
      dirsToFix.push({ p, spec });
    } else {
      const spec: FileSpec = typeof entry === 'string' || entry instanceof Uint8Array ? { content: entry } : (entry as FileSpec);
      await writeFile(p, spec.content);
      await chmod(p, spec.mode ?? 0o644);
      if (spec.uid !== undefined || spec.gid !== undefined) await chown(p, spec.uid ?? 0, spec.gid ?? 0);
      if (spec.mtime !== undefined) await utimes(p, spec.mtime, spec.mtime);
    }
  }
  // Deepest first, so setting a parent's mtime is not undone by touching its children.
  for (const { p, spec } of dirsToFix.reverse()) {
    await chmod(p, spec.mode ?? 0o755);
    if (spec.uid !== undefined || spec.gid !== undefined) await chown(p, spec.uid ?? 0, spec.gid ?? 0);
    if (spec.mtime !== undefined) await utimes(p, spec.mtime, spec.mtime);
  }
}
