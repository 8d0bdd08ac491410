import { chmod, chown, mkdir, mkdtemp, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  StatCache,
  hashSelection,
  loadContext,
  selectSources,
  type HashOptions,
  type SelectionHash,
} from '../src/context/index.js';

type Tree = Record<string, string | null | { link: string } | { content: string; mode: number }>;

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function makeTree(tree: Tree): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bi-hash-'));
  roots.push(dir);
  for (const [rel, v] of Object.entries(tree)) {
    const abs = path.join(dir, rel);
    await mkdir(v === null ? abs : path.dirname(abs), { recursive: true });
    if (v === null) continue;
    if (typeof v === 'string') await writeFile(abs, v);
    else if ('link' in v) await symlink(v.link, abs);
    else {
      await writeFile(abs, v.content);
      await chmod(abs, v.mode);
    }
  }
  return dir;
}

const tree: Tree = {
  '.dockerignore': 'ignored\n**/*.log\n',
  'app/main.js': 'console.log(1)',
  'app/lib/util.js': 'export {}',
  'app/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'app/current': { link: 'main.js' },
  'app/debug.log': 'noise',
  'ignored/big.bin': 'xxxx',
  'docs/readme.md': 'docs',
};

async function hashOf(dir: string, sources: string[], opts: HashOptions = {}): Promise<SelectionHash> {
  const ctx = await loadContext(dir);
  return hashSelection(selectSources(ctx, { sources }), opts);
}

/** Paths at which two per-file lists differ. */
function diffPaths(a: SelectionHash, b: SelectionHash): string[] {
  const key = (f: { path: string; copyPath: string }) => `${f.path}|${f.copyPath}`;
  const ma = new Map(a.files.map((f) => [key(f), f.hash]));
  const mb = new Map(b.files.map((f) => [key(f), f.hash]));
  const out = new Set<string>();
  for (const [k, h] of ma) if (mb.get(k) !== h) out.add(k.split('|')[0]!);
  for (const k of mb.keys()) if (!ma.has(k)) out.add(k.split('|')[0]!);
  return [...out].sort();
}

const waitNextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 30));

describe('hash stability', () => {
  it('ignores times, inode numbers, creation order and the context location', async () => {
    const a = await makeTree(tree);
    const h0 = await hashOf(a, ['.']);
    expect(h0.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(h0.files.map((f) => f.path)).toEqual([...h0.files.map((f) => f.path)].sort());
    await utimes(path.join(a, 'app/main.js'), 1, 1);
    await utimes(path.join(a, 'app/lib'), 2, 2);
    expect((await hashOf(a, ['.'])).digest).toBe(h0.digest);

    // Same tree created in reverse order elsewhere, with an unrelated file created first.
    const reversed = Object.fromEntries(Object.entries(tree).reverse());
    const b = await makeTree({ 'ignored/other.bin': 'zz', ...reversed });
    await chmod(b, (await import('node:fs')).statSync(a).mode & 0o7777);
    expect((await hashOf(b, ['.'])).digest).toBe(h0.digest);
  });

  it('ignores files excluded by .dockerignore or not selected', async () => {
    const a = await makeTree(tree);
    const all = await hashOf(a, ['.']);
    const appOnly = await hashOf(a, ['app']);
    await writeFile(path.join(a, 'ignored/big.bin'), 'changed');
    await writeFile(path.join(a, 'app/debug.log'), 'changed too');
    expect((await hashOf(a, ['.'])).digest).toBe(all.digest);
    await writeFile(path.join(a, 'docs/readme.md'), 'not selected');
    expect((await hashOf(a, ['app'])).digest).toBe(appOnly.digest);
  });

  it('a source mode does not matter under --chmod, nor its owner under --chown (or at all: context files are written as 0:0)', async () => {
    const a = await makeTree(tree);
    const withChmod = await hashOf(a, ['app'], { chmod: 0o640 });
    const withChown = await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1000 } });
    const plain = await hashOf(a, ['app']);
    await chmod(path.join(a, 'app/main.js'), 0o600);
    expect((await hashOf(a, ['app'], { chmod: 0o640 })).digest).toBe(withChmod.digest);
    await chown(path.join(a, 'app/lib/util.js'), 4242, 4343);
    expect((await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1000 } })).digest).not.toBe(plain.digest);
    expect((await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1000 } })).digest).toBe(
      (await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1000 }, chmod: undefined })).digest,
    );
    // main.js mode changed (0600): without chmod the hash changes, at exactly that path.
    const now = await hashOf(a, ['app']);
    expect(diffPaths(plain, now)).toEqual(['app/main.js']);
    // The owner change of util.js never shows without preserveOwner.
    const withChownAfter = await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1000 } });
    expect(diffPaths(withChown, withChownAfter)).toEqual(['app/main.js']);
    // Different --chown / --chmod values do change the key.
    expect(withChown.digest).not.toBe((await hashOf(a, ['app'], { chown: { uid: 1000, gid: 1001 } })).digest);
    expect(withChmod.digest).not.toBe((await hashOf(a, ['app'], { chmod: 0o644 })).digest);
  });

  it('content, permission bits, setuid, symlink target and a name change the hash at exactly that path', async () => {
    const a = await makeTree(tree);
    let prev = await hashOf(a, ['.']);
    const step = async (change: () => Promise<void>, expected: string[]) => {
      await change();
      const next = await hashOf(a, ['.']);
      expect(next.digest).not.toBe(prev.digest);
      expect(diffPaths(prev, next)).toEqual(expected);
      prev = next;
    };
    await step(() => writeFile(path.join(a, 'app/main.js'), 'console.log(2)'), ['app/main.js']);
    await step(() => chmod(path.join(a, 'app/run.sh'), 0o744), ['app/run.sh']);
    await step(() => chmod(path.join(a, 'app/run.sh'), 0o4744), ['app/run.sh']);
    await step(() => chmod(path.join(a, 'app/lib'), 0o700), ['app/lib']);
    await step(async () => {
      await unlink(path.join(a, 'app/current'));
      await symlink('lib/util.js', path.join(a, 'app/current'));
    }, ['app/current']);
    await step(() => rename(path.join(a, 'app/lib/util.js'), path.join(a, 'app/lib/utils.js')), ['app/lib/util.js', 'app/lib/utils.js']);
  });
});

describe('worker-thread hashing', () => {
  it('gives the same digests as the in-thread path, including a file larger than one read buffer', async () => {
    const big = 'x'.repeat(700 * 1024) + 'tail';
    const dir = await makeTree({ ...tree, 'app/big.bin': big });
    const onWorkers = await hashOf(dir, ['.'], { workers: 2, workerThreshold: 0 });
    const inThread = await hashOf(dir, ['.'], { workers: 0 });
    expect(onWorkers.digest).toBe(inThread.digest);
    expect(onWorkers.files).toEqual(inThread.files);
  });
});

describe('incremental hashing', () => {
  it('reads no file contents when re-hashing an unchanged tree, and only what changed otherwise', async () => {
    const files: Tree = {};
    for (let i = 0; i < 50; i++) files[`d${i % 5}/f${i}.txt`] = `content ${i}`;
    const dir = await makeTree(files);
    const cacheRoot = await mkdtemp(path.join(tmpdir(), 'bi-statcache-'));
    roots.push(cacheRoot);
    await waitNextSecond(); // files older than the cache write are not racily clean

    const run = async () => {
      const reads: string[] = [];
      const sc = await StatCache.load(cacheRoot, dir);
      const h = await hashOf(dir, ['.'], { statCache: sc, onRead: (p) => reads.push(p) });
      await sc.save();
      return { h, reads };
    };
    const cold = await run();
    expect(cold.reads).toHaveLength(50);
    expect(StatCache.fileFor(cacheRoot, dir)).toContain(path.join(cacheRoot, 'context-v1'));
    const warm = await run();
    expect(warm.reads).toEqual([]);
    expect(warm.h.digest).toBe(cold.h.digest);

    await waitNextSecond();
    await writeFile(path.join(dir, 'd3/f8.txt'), 'content 8!');
    await waitNextSecond();
    const third = await run();
    expect(third.reads).toEqual(['d3/f8.txt']);
    expect(diffPaths(cold.h, third.h)).toEqual(['d3/f8.txt']);
  });

  it('re-hashes a racily clean file: same stat data, rewritten in the second the cache was written', async () => {
    const dir = await makeTree({ 'a.txt': 'AAAA', 'b.txt': 'BBBB' });
    const cacheRoot = await mkdtemp(path.join(tmpdir(), 'bi-statcache-'));
    roots.push(cacheRoot);
    // Written and cached within one second: every entry is racily clean.
    for (let attempt = 0; ; attempt++) {
      if (Date.now() % 1000 < 700 || attempt > 0) break;
      await waitNextSecond();
    }
    const ctx = await loadContext(dir);
    const sc = await StatCache.load(cacheRoot, dir);
    const first = await hashSelection(selectSources(ctx, { sources: ['a.txt'] }), { statCache: sc });
    await sc.save();

    // The file changes with the same size. On a file system with coarse timestamps its stat data
    // stays identical: model that by hashing with the entries walked before the rewrite.
    await writeFile(path.join(dir, 'a.txt'), 'ZZZZ');
    const reads: string[] = [];
    const sc2 = await StatCache.load(cacheRoot, dir);
    const second = await hashSelection(selectSources(ctx, { sources: ['a.txt'] }), { statCache: sc2, onRead: (p) => reads.push(p) });
    expect(reads).toEqual(['a.txt']);
    expect(second.digest).not.toBe(first.digest);

    // Control: had the cache been written in a later second, the identical stat data would have
    // been trusted. This is exactly the case the racy rule exists for.
    const future = new Date(Date.now() + 5000);
    await utimes(StatCache.fileFor(cacheRoot, dir), future, future);
    const sc3 = await StatCache.load(cacheRoot, dir);
    const reads3: string[] = [];
    await hashSelection(selectSources(ctx, { sources: ['a.txt'] }), { statCache: sc3, onRead: (p) => reads3.push(p) });
    expect(reads3).toEqual([]);
  });
});
