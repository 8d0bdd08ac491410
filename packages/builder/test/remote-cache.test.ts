/**
 * Remote cache export/import round trips through a real registry (Debian's docker-registry), a
 * local OCI layout directory and the GitHub Actions cache protocol (v2 and v1, local server), with
 * real layer blobs, pre-images and cache-mount directories.
 */
import { CacheIndex, ContentStore, computeCacheKey, type CacheKey, type CacheRecord, type Digest } from '@build-image/cache';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGhaCacheServer, type GhaCacheServer } from '../../../test/helpers/gha-cache-server.js';
import { freePort, startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';
import { writeLayerFromDirectory } from '../src/layer/directory.js';
import {
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  exportCache,
  ghaBlobKey,
  ghaManifestPrefix,
  importCache,
  MOUNT_ID_ANNOTATION,
  parseCacheExportSpec,
  parseCacheImportSpec,
  type CacheExportEntry,
  type CacheExportSpec,
  type CacheImportSpec,
} from '../src/remote-cache/index.js';

const execFileP = promisify(execFile);

interface CacheFixture {
  root: string;
  store: ContentStore;
  index: CacheIndex;
  entries: CacheExportEntry[];
  /** Keys by role. */
  keys: { base: CacheKey; build: CacheKey; copy: CacheKey; env: CacheKey };
  /** Layer digests by role. */
  layers: { base: Digest; build: Digest; copy: Digest };
  extraBlob: Digest;
}

/** Builds the fixture; `salt` changes every file so two fixtures share no blob. */
async function makeCacheFixture(salt = ''): Promise<CacheFixture> {
  const root = await makeTempDir('bi-rc-src-');
  const store = new ContentStore({ root });
  const index = new CacheIndex(store);
  const layer = async (tree: Parameters<typeof writeTree>[1]) => {
    const dir = await makeTempDir('bi-rc-layer-');
    await writeTree(dir, tree);
    return writeLayerFromDirectory(dir, store, { sourceDateEpoch: 0 });
  };
  const l1 = await layer({ 'etc/os-release': `ID=test${salt}\n`, 'bin/': { dir: true } });
  const l2 = await layer({ 'src/main.c': `int main(){return 0;}${salt}\n`, 'out/app': { content: `ELF${salt}`, mode: 0o755 } });
  const l3 = await layer({ 'app/app': { content: `ELF${salt}`, mode: 0o755 }, 'app/data/': { dir: true, mode: 0o700 } });
  const extra = await store.putBytes(JSON.stringify({ note: `an extra blob${salt}` }));

  const k = (parts: Parameters<typeof computeCacheKey>[0]) => computeCacheKey(parts);
  const base = k([{ type: 'parent', value: null }, { type: 'op', value: `FROM scratch${salt}` }, { type: 'platform', value: 'linux/amd64' }]);
  const build = k([{ type: 'parent', value: base.key }, { type: 'op', value: 'RUN make' }, { type: 'arg', name: 'VERSION', value: '1' }]);
  const copy = k([
    { type: 'parent', value: null },
    { type: 'op', value: 'COPY --from=builder /out/app /app/app' },
    { type: 'input', name: 'builder', value: build.key },
    { type: 'files', name: 'source #1', entries: [{ path: 'out/app', hash: 'sha256:' + 'a'.repeat(64), mode: 0o755 }] },
  ]);
  const env = k([{ type: 'parent', value: copy.key }, { type: 'op', value: 'ENV MODE=prod' }, { type: 'env', name: 'MODE', value: 'prod' }]);

  const desc = (l: { mediaType: string; digest: Digest; size: number; diffId: Digest }) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: l.diffId });
  await index.put(base.key, { layers: [desc(l1)] }, base.preimage, { stepId: 'builder/0/FROM' });
  await index.put(build.key, { layers: [desc(l1), desc(l2)], metadata: { exitCode: 0 } }, build.preimage, { stepId: 'builder/1/RUN' });
  await index.put(copy.key, { layers: [desc(l3)], blobs: [extra.digest], config: { WorkingDir: '/app' } }, copy.preimage, { stepId: 'final/1/COPY' });
  await index.put(env.key, { config: { Env: ['MODE=prod'] } }, env.preimage, { stepId: 'final/2/ENV' });

  return {
    root,
    store,
    index,
    entries: [
      { key: base.key, stepId: 'builder/0/FROM', stage: 'intermediate' },
      { key: build.key, stepId: 'builder/1/RUN', stage: 'intermediate' },
      { key: copy.key, stepId: 'final/1/COPY', stage: 'target' },
      { key: env.key, stepId: 'final/2/ENV', stage: 'target' },
    ],
    keys: { base: base.key, build: build.key, copy: copy.key, env: env.key },
    layers: { base: l1.digest, build: l2.digest, copy: l3.digest },
    extraBlob: extra.digest,
  };
}

/** An empty cache to import into. */
async function emptyCache(): Promise<{ root: string; store: ContentStore; index: CacheIndex }> {
  const root = await makeTempDir('bi-rc-dst-');
  const store = new ContentStore({ root });
  return { root, store, index: new CacheIndex(store) };
}

/** The parts of a record that must survive a round trip. */
function resultOf(rec: CacheRecord | undefined): unknown {
  if (!rec) return undefined;
  const { key, layers, config, blobs, metadata } = rec;
  return { key, layers, config, blobs, metadata };
}

// ---------------------------------------------------------------------------------------------

let reg: TestRegistry;
let gha: GhaCacheServer;
const ghaOptions = { retryBaseDelayMs: 5 };

beforeAll(async () => {
  reg = await startRegistry();
  gha = await startGhaCacheServer();
});
afterAll(async () => {
  await reg?.stop();
  await gha?.stop();
  await cleanupTempDirs();
});

interface Backend {
  name: string;
  to(id: string, mode: 'min' | 'max'): Promise<CacheExportSpec>;
  from(id: string): Promise<CacheImportSpec>;
}

const localDirs = new Map<string, string>();
async function localDir(id: string): Promise<string> {
  if (!localDirs.has(id)) localDirs.set(id, path.join(await makeTempDir('bi-rc-local-'), 'cache'));
  return localDirs.get(id)!;
}
const v2env = () => ({ ACTIONS_RESULTS_URL: `${gha.url}/`, ACTIONS_RUNTIME_TOKEN: gha.token });
const v1env = () => ({ ACTIONS_CACHE_URL: gha.v1Url, ACTIONS_RUNTIME_TOKEN: gha.token });

const backends: Backend[] = [
  {
    name: 'registry',
    to: async (id, mode) => parseCacheExportSpec(`type=registry,ref=${reg.host}/cache/${id}:buildcache,mode=${mode}`),
    from: async (id) => parseCacheImportSpec(`type=registry,ref=${reg.host}/cache/${id}:buildcache`),
  },
  {
    name: 'local',
    to: async (id, mode) => parseCacheExportSpec(`type=local,dest=${await localDir(id)},mode=${mode}`),
    from: async (id) => parseCacheImportSpec(`type=local,src=${await localDir(id)}`),
  },
  {
    name: 'gha v2',
    to: async (id, mode) => parseCacheExportSpec(`type=gha,scope=v2-${id},mode=${mode}`, v2env()),
    from: async (id) => parseCacheImportSpec(`type=gha,scope=v2-${id}`, v2env()),
  },
  {
    name: 'gha v1',
    to: async (id, mode) => parseCacheExportSpec(`type=gha,scope=v1-${id},mode=${mode}`, v1env()),
    from: async (id) => parseCacheImportSpec(`type=gha,scope=v1-${id}`, v1env()),
  },
];

const opts = { registry: {}, gha: ghaOptions };

describe.each(backends)('round trip through $name', (backend) => {
  it('mode=max: every entry comes back with identical results, verified blobs and pre-images', async () => {
    const src = await makeCacheFixture(`-max-${backend.name}`);
    const exported = await exportCache(await backend.to('max', 'max'), { entries: src.entries, index: src.index, store: src.store }, opts);
    expect(exported.skipped).toEqual([]);
    expect(exported.warnings).toEqual([]);
    expect(exported.manifest?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(exported.exported.entries.sort()).toEqual(Object.values(src.keys).sort());
    // Three layers and the extra blob; the config blob is uploaded too but is not a cache blob.
    expect(new Set(exported.exported.blobs.map((b) => b.digest))).toEqual(new Set([...Object.values(src.layers), src.extraBlob]));

    const dst = await emptyCache();
    const imported = await importCache({ source: await backend.from('max'), index: dst.index, store: dst.store }, opts);
    expect(imported.warnings).toEqual([]);
    expect(imported.found).toBe(true);
    expect(imported.manifest?.digest).toBe(exported.manifest?.digest);
    expect(imported.entries.sort()).toEqual(Object.values(src.keys).sort());
    expect(imported.blobs.fetched.sort()).toEqual([...Object.values(src.layers), src.extraBlob].sort());

    for (const key of Object.values(src.keys)) {
      expect(resultOf(await dst.index.get(key))).toEqual(resultOf(await src.index.peek(key)));
      expect(await dst.index.getPreimage(key)).toEqual(await src.index.getPreimage(key));
    }
    for (const e of src.entries) expect((await dst.index.findNearest(e.stepId!))?.key).toBe(e.key);
    const verified = await dst.store.verify();
    expect(verified.corrupt).toEqual([]);
    for (const d of [...Object.values(src.layers), src.extraBlob]) {
      expect((await dst.store.getBytes(d)).equals(await src.store.getBytes(d))).toBe(true);
    }

    // A second import finds everything in place and fetches nothing.
    const again = await importCache({ source: await backend.from('max'), index: dst.index, store: dst.store }, opts);
    expect(again.warnings).toEqual([]);
    expect(again.entries).toEqual([]);
    expect(again.alreadyPresent.sort()).toEqual(Object.values(src.keys).sort());
    expect(again.blobs.fetched).toEqual([]);
  });

  it('mode=min: only the target stage is exported and imported', async () => {
    const src = await makeCacheFixture(`-min-${backend.name}`);
    const exported = await exportCache(await backend.to('min', 'min'), { entries: src.entries, index: src.index, store: src.store }, opts);
    expect(exported.skipped).toEqual([]);
    expect(exported.exported.entries.sort()).toEqual([src.keys.copy, src.keys.env].sort());
    expect(exported.exported.blobs.map((b) => b.digest).sort()).toEqual([src.layers.copy, src.extraBlob].sort());

    const dst = await emptyCache();
    const imported = await importCache({ source: await backend.from('min'), index: dst.index, store: dst.store }, opts);
    expect(imported.warnings).toEqual([]);
    expect(imported.entries.sort()).toEqual([src.keys.copy, src.keys.env].sort());
    expect(resultOf(await dst.index.get(src.keys.copy))).toEqual(resultOf(await src.index.peek(src.keys.copy)));
    expect(resultOf(await dst.index.get(src.keys.env))).toEqual(resultOf(await src.index.peek(src.keys.env)));
    expect(await dst.index.get(src.keys.base)).toBeUndefined();
    expect(await dst.index.get(src.keys.build)).toBeUndefined();
    expect(await dst.store.has(src.layers.base)).toBe(false);
    expect(await dst.store.has(src.layers.build)).toBe(false);
  });

  it('a re-export of the same cache uploads nothing new and gives the same manifest', async () => {
    const src = await makeCacheFixture(`-again-${backend.name}`);
    const first = await exportCache(await backend.to('again', 'max'), { entries: src.entries, index: src.index, store: src.store }, opts);
    const second = await exportCache(await backend.to('again', 'max'), { entries: [...src.entries].reverse(), index: src.index, store: src.store }, opts);
    expect(second.skipped).toEqual([]);
    expect(second.manifest?.digest).toBe(first.manifest?.digest);
    expect(second.exported.blobs.every((b) => b.outcome === 'exists')).toBe(true);
    expect(second.uploadedBytes).toBe(0);
    expect(first.uploadedBytes).toBeGreaterThan(0);
  });

  it('a missing cache is a warning, not a failure', async () => {
    const dst = await emptyCache();
    const r = await importCache({ source: await backend.from('never-exported'), index: dst.index, store: dst.store }, opts);
    expect(r.found).toBe(false);
    expect(r.entries).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]!.code).toBe('E_CACHE_NOT_FOUND');
    expect(r.warnings[0]!.message).toContain('no cache found at');
  });

  it('cache-mount directories are exported and restored with files, modes and owners', async () => {
    const src = await makeCacheFixture(`-mounts-${backend.name}`);
    const npm = await makeTempDir('bi-rc-mount-');
    await writeTree(npm, {
      '_cacache/index-v5/ab/cd': { content: 'index entry\n', mode: 0o600, uid: 1000, gid: 1001 },
      '_cacache/content-v2/sha512/blob': { content: Buffer.alloc(70_000, 7), mode: 0o644, uid: 1000, gid: 1001 },
      'bin/tool': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'bin/link': { symlink: 'tool' },
      'private/': { dir: true, mode: 0o700, uid: 1000, gid: 1001 },
    });
    const apt = await makeTempDir('bi-rc-mount-');
    await writeTree(apt, { 'archives/pkg.deb': 'deb' });
    const exported = await exportCache(
      await backend.to('mounts', 'min'),
      { entries: src.entries, index: src.index, store: src.store, mounts: [{ id: '/root/.npm', dir: npm }, { id: 'apt', dir: apt }, { id: 'gone', dir: path.join(npm, 'nope') }] },
      opts,
    );
    expect(exported.exported.mounts).toEqual(['/root/.npm', 'apt']);
    expect(exported.skipped).toEqual([{ kind: 'mount', id: 'gone', reason: expect.stringContaining('nope') }]);

    const dst = await emptyCache();
    const restored = await makeTempDir('bi-rc-restore-');
    await writeFile(path.join(restored, 'kept.txt'), 'local file');
    const imported = await importCache(
      { source: await backend.from('mounts'), index: dst.index, store: dst.store, mounts: [{ id: '/root/.npm', dir: restored }] },
      opts,
    );
    expect(imported.warnings).toEqual([]);
    expect(imported.mounts.map((m) => [m.id, m.restoredTo])).toEqual([
      ['/root/.npm', restored],
      ['apt', undefined],
    ]);
    const st = (p: string) => lstat(path.join(restored, p));
    expect(await readFile(path.join(restored, '_cacache/index-v5/ab/cd'), 'utf8')).toBe('index entry\n');
    expect((await st('_cacache/index-v5/ab/cd')).mode & 0o7777).toBe(0o600);
    expect((await st('_cacache/index-v5/ab/cd')).uid).toBe(1000);
    expect((await st('_cacache/index-v5/ab/cd')).gid).toBe(1001);
    expect((await readFile(path.join(restored, '_cacache/content-v2/sha512/blob'))).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect((await st('bin/tool')).mode & 0o7777).toBe(0o755);
    expect(await readlink(path.join(restored, 'bin/link'))).toBe('tool');
    expect((await st('private')).mode & 0o7777).toBe(0o700);
    expect((await st('private')).uid).toBe(1000);
    expect(await readFile(path.join(restored, 'kept.txt'), 'utf8')).toBe('local file');
  });
});
