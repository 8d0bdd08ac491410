import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import {
  CacheIndex,
  computeCacheKey,
  ContentStore,
  explainMiss,
  formatMissReason,
  type CacheKey,
  type Digest,
  type KeyPart,
  type LayerDescriptor,
} from '../src/index.js';
import { CACHE_SRC, FIXTURES, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
const T0 = Date.UTC(2030, 0, 1);
const HOUR = 3600_000;

async function open() {
  const clock = { now: T0 };
  const root = await tempDir();
  const store = new ContentStore({ root, now: () => clock.now });
  const index = new CacheIndex(store, { now: () => clock.now });
  return { clock, root, store, index };
}

const layer = (b: { digest: Digest; size: number }, diffId?: Digest): LayerDescriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: b.digest,
  size: b.size,
  ...(diffId ? { diffId } : {}),
});

const parts = (op: string, args: Record<string, string> = {}): KeyPart[] => [
  { type: 'parent', value: null },
  { type: 'op', value: op },
  ...Object.entries(args).map(([name, value]) => ({ type: 'arg' as const, name, value })),
];

describe('CacheIndex', () => {
  it('puts and gets a record; size counts each distinct blob once', async () => {
    const { store, index } = await open();
    const a = await store.putBytes(Buffer.alloc(1000, 'a'));
    const cfg = await store.putBytes('{"config":true}');
    const { key, preimage } = computeCacheKey(parts('RUN a'));
    const put = await index.put(key, { layers: [layer(a, a.digest), layer(a)], blobs: [cfg.digest], config: { Env: ['A=1'] }, metadata: { note: 'x' } }, preimage);
    expect(put.size).toBe(1000 + cfg.size);
    const got = await index.get(key);
    expect(got).toEqual({
      key,
      layers: [layer(a, a.digest), layer(a)],
      blobs: [cfg.digest],
      config: { Env: ['A=1'] },
      metadata: { note: 'x' },
      createdAt: new Date(T0).toISOString(),
      lastUsedAt: new Date(T0).toISOString(),
      size: 1015,
    });
    expect(await index.getPreimage(key)).toEqual(preimage);
    expect(await index.get(computeCacheKey(parts('RUN b')).key)).toBeUndefined();
  });

  it('marks a hit as used by moving the entry mtime, without rewriting it; peek does not', async () => {
    const { clock, root, store, index } = await open();
    const b = await store.putBytes('x');
    const { key, preimage } = computeCacheKey(parts('RUN a'));
    await index.put(key, { layers: [layer(b)] }, preimage);
    const file = join(root, 'index-v1', key.slice(7, 9), `${key.slice(7)}.json`);
    const before = await readFile(file);
    const ino = (await lstat(file)).ino;
    clock.now = T0 + 5 * HOUR;
    expect((await index.peek(key))!.lastUsedAt).toBe(new Date(T0).toISOString());
    expect((await index.get(key))!.lastUsedAt).toBe(new Date(T0 + 5 * HOUR).toISOString());
    expect((await lstat(file)).mtimeMs).toBe(T0 + 5 * HOUR);
    expect((await lstat(file)).ino).toBe(ino);
    expect((await readFile(file)).equals(before)).toBe(true);
    expect((await index.peek(key))!.lastUsedAt).toBe(new Date(T0 + 5 * HOUR).toISOString());
    expect((await index.peek(key))!.createdAt).toBe(new Date(T0).toISOString());
  });

  it('refuses a record whose blobs are missing, and a pre-image of another key', async () => {
    const { store, index } = await open();
    const { key, preimage } = computeCacheKey(parts('RUN a'));
    const ghost = { digest: `sha256:${'f'.repeat(64)}` as Digest, size: 1 };
    await expect(index.put(key, { layers: [layer(ghost)] }, preimage)).rejects.toMatchObject({ code: 'E_BLOB_NOT_FOUND' });
    const other = computeCacheKey(parts('RUN b')).preimage;
    await expect(index.put(key, {}, other)).rejects.toMatchObject({ code: 'E_INVALID_KEY_PART' });
    await expect(index.put('sha256:nope' as CacheKey, {})).rejects.toMatchObject({ code: 'E_INVALID_DIGEST' });
    expect(await index.get(key)).toBeUndefined();
    void store;
  });

  it('turns an entry whose blob vanished into a miss and drops it', async () => {
    const { store, index } = await open();
    const b = await store.putBytes('gone soon');
    const { key, preimage } = computeCacheKey(parts('RUN a'));
    await index.put(key, { layers: [layer(b)] }, preimage);
    await store.delete(b.digest);
    expect(await index.get(key)).toBeUndefined();
    expect(await index.peek(key)).toBeUndefined();
  });

  it('treats a damaged entry file as a miss', async () => {
    const { root, index } = await open();
    const { key } = computeCacheKey(parts('RUN a'));
    const file = join(root, 'index-v1', key.slice(7, 9), `${key.slice(7)}.json`);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, '{"v":1,"key":');
    expect(await index.get(key)).toBeUndefined();
  });

  it('records the last pre-image per step and explains a miss against it', async () => {
    const { store, index } = await open();
    const b = await store.putBytes('layer');
    const stepId = 'build/2/RUN';
    const v1 = computeCacheKey(parts('RUN make', { VERSION: '1' }));
    const v2 = computeCacheKey(parts('RUN make', { VERSION: '2' }));
    await index.put(v1.key, { layers: [layer(b)] }, v1.preimage, { stepId });
    expect(await index.findNearest(stepId)).toEqual({ key: v1.key, preimage: v1.preimage });
    expect(await index.findNearest('other/1/RUN')).toBeUndefined();

    // A build with VERSION=2 misses; the explanation names the arg.
    expect(await index.get(v2.key, { stepId })).toBeUndefined();
    const nearest = await index.findNearest(stepId);
    expect(explainMiss(v2.preimage, nearest?.preimage).map(formatMissReason)).toEqual(['ARG VERSION changed ("1" → "2")']);
    await index.put(v2.key, { layers: [layer(b)] }, v2.preimage, { stepId });
    expect((await index.findNearest(stepId))!.key).toBe(v2.key);

    // Going back to VERSION=1 hits, and the hit becomes the step's latest record.
    expect(await index.get(v1.key, { stepId })).toBeDefined();
    expect((await index.findNearest(stepId))!.key).toBe(v1.key);

    // prune({ all: true }) empties everything, step history included.
    await index.prune({ all: true });
    expect(await index.get(v1.key)).toBeUndefined();
    expect(await index.findNearest(stepId)).toBeUndefined();
    expect((await index.diskUsage()).totalBytes).toBe(0);
  });

  it('keeps step history when only the entry is pruned', async () => {
    const { clock, store, index } = await open();
    const b = await store.putBytes('layer');
    const v1 = computeCacheKey(parts('RUN make', { VERSION: '1' }));
    await index.put(v1.key, { layers: [layer(b)] }, v1.preimage, { stepId: 's' });
    clock.now = T0 + 10 * HOUR;
    const res = await index.prune({ maxBytes: 0, orphanGrace: 0 });
    expect(res.removedEntries).toEqual([v1.key]);
    expect(res.removedBlobs).toEqual([b.digest]);
    expect(await index.findNearest('s')).toEqual({ key: v1.key, preimage: v1.preimage });
  });

  it('prunes least recently used first down to maxBytes, keeping blobs still referenced', async () => {
    const { clock, store, index } = await open();
    const shared = await store.putBytes(Buffer.alloc(500, 's'));
    const blobA = await store.putBytes(Buffer.alloc(1000, 'a'));
    const blobB = await store.putBytes(Buffer.alloc(1000, 'b'));
    const blobC = await store.putBytes(Buffer.alloc(1000, 'c'));
    const A = computeCacheKey(parts('RUN a'));
    const B = computeCacheKey(parts('RUN b'));
    const C = computeCacheKey(parts('RUN c'));
    await index.put(A.key, { layers: [layer(shared), layer(blobA)] }, A.preimage);
    clock.now += HOUR;
    await index.put(B.key, { layers: [layer(blobB)] }, B.preimage);
    clock.now += HOUR;
    await index.put(C.key, { layers: [layer(shared), layer(blobC)] }, C.preimage);
    clock.now += HOUR;
    await index.get(A.key); // A is now the most recently used: B, C, A
    clock.now += HOUR;

    const du = await index.diskUsage();
    expect(du.entries).toBe(3);
    expect(du.blobs).toBe(4);
    expect(du.blobBytes).toBe(3500);
    expect(du.orphanBlobs).toBe(0);
    expect(du.reclaimableBytes).toBe(0);
    expect(du.totalBytes).toBe(du.blobBytes + du.entryBytes);

    // One byte over budget: only the least recently used entry (B) goes, with its own blob.
    const r1 = await index.prune({ maxBytes: du.totalBytes - 1 });
    expect(r1.removedEntries).toEqual([B.key]);
    expect(r1.removedBlobs).toEqual([blobB.digest]);
    expect(r1.remainingBytes).toBeLessThanOrEqual(du.totalBytes - 1);
    expect(r1.freedBytes).toBe(du.totalBytes - r1.remainingBytes);
    expect(await store.has(blobB.digest)).toBe(false);

    // Next goes C; the shared blob stays because A still references it.
    const r2 = await index.prune({ maxBytes: r1.remainingBytes - 1 });
    expect(r2.removedEntries).toEqual([C.key]);
    expect(r2.removedBlobs).toEqual([blobC.digest]);
    expect(await store.has(shared.digest)).toBe(true);
    expect(await index.get(A.key)).toBeDefined();

    // Finally A, and with it the shared blob.
    const r3 = await index.prune({ maxBytes: 0 });
    expect(r3.removedEntries).toEqual([A.key]);
    expect(r3.removedBlobs.sort()).toEqual([shared.digest, blobA.digest].sort());
    expect(r3.remainingBytes).toBe(0);
    const empty = await index.diskUsage();
    expect(empty).toMatchObject({ entries: 0, blobs: 0, blobBytes: 0, entryBytes: 0, totalBytes: 0 });
  });

  it('prunes by age, including old orphan blobs but not fresh ones', async () => {
    const { clock, store, index } = await open();
    const old = computeCacheKey(parts('RUN old'));
    const fresh = computeCacheKey(parts('RUN fresh'));
    const bOld = await store.putBytes('old layer');
    const bFresh = await store.putBytes('fresh layer');
    const orphanOld = await store.putBytes('orphan, old');
    await index.put(old.key, { layers: [layer(bOld)] }, old.preimage);
    await store.touch(orphanOld.digest);
    clock.now += 48 * HOUR;
    await index.put(fresh.key, { layers: [layer(bFresh)] }, fresh.preimage);
    const orphanNew = await store.putBytes('orphan, new');
    await store.touch(orphanNew.digest);

    const du = await index.diskUsage();
    expect(du.orphanBlobs).toBe(2);
    expect(du.orphanBytes).toBe(orphanOld.size + orphanNew.size);
    expect(du.reclaimableBytes).toBe(orphanOld.size + orphanNew.size);

    const r = await index.prune({ olderThan: 24 * HOUR });
    expect(r.removedEntries).toEqual([old.key]);
    expect(r.removedBlobs.sort()).toEqual([orphanOld.digest, bOld.digest].sort());
    expect(await store.has(orphanNew.digest)).toBe(true);
    expect(await index.get(fresh.key)).toBeDefined();
    expect(await index.get(old.key)).toBeUndefined();
  });

  it('prune also removes temp files of crashed writers and counts them', async () => {
    const { clock, root, index } = await open();
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'tmp', '99-crashed.tmp'), Buffer.alloc(4096));
    const t = (T0 - 48 * HOUR) / 1000;
    await utimes(join(root, 'tmp', '99-crashed.tmp'), t, t);
    expect((await index.diskUsage()).tempBytes).toBe(4096);
    const r = await index.prune({});
    expect(r.removedTempFiles).toBe(1);
    expect(r.freedBytes).toBe(4096);
    void clock;
  });

  it('never shows a torn entry while two processes rewrite it', async () => {
    const root = await tempDir();
    const bundleDir = await mkdtemp(join(tmpdir(), 'bi-cache-bundle-'));
    try {
      const bundle = join(bundleDir, 'cache.mjs');
      await build({ entryPoints: [CACHE_SRC], bundle: true, platform: 'node', format: 'esm', target: 'node20', conditions: ['source'], outfile: bundle, logLevel: 'silent' });
      const { key } = computeCacheKey(parts('RUN contended'));
      const file = join(root, 'index-v1', key.slice(7, 9), `${key.slice(7)}.json`);
      const run = (tag: string) =>
        new Promise<number | null>((resolve) => {
          const p = spawn(process.execPath, [join(FIXTURES, 'index-child.mjs'), bundle, root, key, '40', tag], { stdio: 'inherit' });
          p.on('exit', resolve);
        });
      const children = Promise.all([run('one'), run('two')]);
      let reads = 0;
      let finished = false;
      void children.then(() => (finished = true));
      while (!finished) {
        const text = await readFile(file, 'utf8').catch(() => undefined);
        if (text !== undefined) {
          const v = JSON.parse(text) as { result: { metadata: { tag: string; pad: string } } };
          expect(['one', 'two']).toContain(v.result.metadata.tag);
          reads++;
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(await children).toEqual([0, 0]);
      expect(reads).toBeGreaterThan(0);
    } finally {
      await rm(bundleDir, { recursive: true, force: true });
    }
  });
});
