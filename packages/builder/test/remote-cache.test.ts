/**
 * Remote cache export/import round trips through a real registry (Debian's docker-registry), a
 * local OCI layout directory and the GitHub Actions cache protocol (v2 and v1, local server), with
 * real layer blobs, pre-images and cache-mount directories.
 */
import { CacheIndex, ContentStore, computeCacheKey, type CacheKey, type CacheRecord, type Digest } from '@build-image/cache';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startGhaCacheServer, type GhaCacheServer } from '../../../test/helpers/gha-cache-server.js';
import { freePort, startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';
import { writeLayerFromDirectory } from '../src/layer/directory.js';
import { StaticCredentialStore } from '../src/registry/index.js';
import {
  buildCacheArtifact,
  CACHE_ARTIFACT_TYPE,
  LocalCacheWriter,
  type CacheWriter,
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

  it('a cache of blob-less entries (ENV, LABEL steps) is a manifest with no layers', async () => {
    const src = await makeCacheFixture(`-nolayers-${backend.name}`);
    const r = await exportCache(await backend.to('nolayers', 'min'), { entries: src.entries.filter((e) => e.key === src.keys.env), index: src.index, store: src.store }, opts);
    expect(r.skipped).toEqual([]);
    expect(r.exported.blobs).toEqual([]);
    const dst = await emptyCache();
    const imp = await importCache({ source: await backend.from('nolayers'), index: dst.index, store: dst.store }, opts);
    expect(imp.warnings).toEqual([]);
    expect(resultOf(await dst.index.get(src.keys.env))).toEqual(resultOf(await src.index.peek(src.keys.env)));
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

// ---------------------------------------------------------------------------------------------

describe('registry format', () => {
  it('pushes a manifest the registry serves and skopeo reads: OCI manifest, artifactType, cache config, blobs as they are', async () => {
    const src = await makeCacheFixture('-skopeo');
    const ref = `${reg.host}/cache/skopeo:buildcache`;
    const mounts = await makeTempDir('bi-rc-mount-');
    await writeTree(mounts, { 'a.txt': 'a' });
    const r = await exportCache(parseCacheExportSpec(`type=registry,ref=${ref},mode=max`), { ...src, mounts: [{ id: 'm', dir: mounts }] }, opts);
    expect(r.skipped).toEqual([]);
    const { stdout } = await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    const manifest = JSON.parse(stdout) as {
      schemaVersion: number;
      mediaType: string;
      artifactType: string;
      config: { mediaType: string; digest: string; size: number };
      layers: Array<{ mediaType: string; digest: string; size: number; annotations?: Record<string, string> }>;
    };
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.artifactType).toBe(CACHE_ARTIFACT_TYPE);
    expect(manifest.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
    expect(`sha256:${require_sha256(stdout)}`).toBe(r.manifest!.digest);
    const layerDigests = manifest.layers.map((l) => l.digest);
    for (const d of [...Object.values(src.layers), src.extraBlob]) expect(layerDigests).toContain(d);
    const gz = manifest.layers.find((l) => l.digest === src.layers.copy)!;
    expect(gz.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(manifest.layers.filter((l) => l.annotations?.[MOUNT_ID_ANNOTATION] === 'm')).toHaveLength(1);

    // The config blob is served by the registry and lists the records with their pre-images.
    const cfg = await execFileP('skopeo', ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${ref}`]);
    const config = JSON.parse(cfg.stdout) as { schema: string; version: number; records: Array<{ key: string; preimage?: unknown; stepId?: string }>; mounts: unknown[] };
    expect(config.schema).toBe('build-image.cache');
    expect(config.records.map((x) => x.key)).toEqual(Object.values(src.keys).sort());
    expect(config.records.every((x) => x.preimage && x.stepId)).toBe(true);
    expect(config.mounts).toHaveLength(1);
  });

  it('an image that is not a cache is a warning that says so', async () => {
    await makeBusyboxImage({ registry: reg, ref: 'cache/plain-image:1' });
    const dst = await emptyCache();
    const r = await importCache({ source: parseCacheImportSpec(`${reg.host}/cache/plain-image:1`), index: dst.index, store: dst.store }, opts);
    expect(r.found).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    expect(r.warnings[0]!.message).toContain('is not a build-image cache: its config media type is application/vnd.oci.image.config.v1+json');
  });

  it('uses registry credentials; without them the import is a warning', async () => {
    const secured = await startRegistry({ auth: 'token' });
    try {
      const auth = new StaticCredentialStore({ [secured.host]: { username: secured.username!, password: secured.password! } });
      const src = await makeCacheFixture('-auth');
      const ref = `${secured.host}/team/app:buildcache`;
      const r = await exportCache(parseCacheExportSpec(`type=registry,ref=${ref},mode=max`), src, { registry: { auth } });
      expect(r.skipped).toEqual([]);
      const dst = await emptyCache();
      const ok = await importCache({ source: parseCacheImportSpec(ref), index: dst.index, store: dst.store }, { registry: { auth } });
      expect(ok.warnings).toEqual([]);
      expect(ok.entries).toHaveLength(4);
      const anon = await emptyCache();
      const denied = await importCache({ source: parseCacheImportSpec(ref), index: anon.index, store: anon.store });
      expect(denied.found).toBe(false);
      expect(denied.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    } finally {
      await secured.stop();
    }
  });

  it('an unreachable registry during export reports skipped items and does not throw', async () => {
    const src = await makeCacheFixture('-unreachable');
    const port = await freePort();
    const started = Date.now();
    const r = await exportCache(parseCacheExportSpec(`type=registry,ref=127.0.0.1:${port}/cache/x:buildcache,mode=max`), src, opts);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.manifest).toBeUndefined();
    expect(r.exported.entries).toEqual([]);
    const skippedBlobs = r.skipped.filter((s) => s.kind === 'blob');
    expect(skippedBlobs.map((s) => s.id).sort()).toEqual([...Object.values(src.layers), src.extraBlob].sort());
    expect(skippedBlobs[0]!.reason).toContain(`127.0.0.1:${port}`);
    expect(r.skipped.filter((s) => s.kind === 'entry').map((s) => s.id).sort()).toEqual([src.keys.base, src.keys.build, src.keys.copy].sort());
    expect(r.skipped.some((s) => s.kind === 'manifest')).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]!.code).toBe('E_CACHE_EXPORT');
    expect(r.warnings[0]!.message).toMatch(/skipped .*4 blobs.*published no manifest/);
  });

  it('an unreachable registry during import is a warning', async () => {
    const dst = await emptyCache();
    const port = await freePort();
    const r = await importCache({ source: parseCacheImportSpec(`127.0.0.1:${port}/cache/x:buildcache`), index: dst.index, store: dst.store }, opts);
    expect(r.found).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    expect(r.warnings[0]!.message).toContain(`127.0.0.1:${port}`);
  });
});

function require_sha256(text: string): string {
  // skopeo prints the manifest bytes exactly as the registry stores them.
  return createHash('sha256').update(text).digest('hex');
}

// ---------------------------------------------------------------------------------------------

describe('fail-soft export', () => {
  it('a blob that fails to upload leaves out exactly the records that need it; the manifest lists what is there', async () => {
    const src = await makeCacheFixture('-partial');
    const dir = path.join(await makeTempDir('bi-rc-partial-'), 'cache');
    const inner = new LocalCacheWriter(dir);
    const writer: CacheWriter = {
      name: inner.name,
      putBlob: async (desc, store, signal) => {
        if (desc.digest === src.layers.build) throw new Error('403 denied by a proxy');
        return inner.putBlob(desc, store, signal);
      },
      putManifest: (bytes, desc, signal) => inner.putManifest(bytes, desc, signal),
    };
    const r = await exportCache(parseCacheExportSpec(`type=local,dest=${dir},mode=max`), src, { writer });
    expect(r.skipped).toEqual([
      { kind: 'blob', id: src.layers.build, reason: '403 denied by a proxy' },
      { kind: 'entry', id: src.keys.build, reason: `blob ${src.layers.build} was not uploaded` },
    ]);
    expect(r.manifest).toBeDefined();
    expect(r.exported.entries.sort()).toEqual([src.keys.base, src.keys.copy, src.keys.env].sort());
    expect(r.warnings.map((w) => w.code)).toEqual(['E_CACHE_EXPORT']);

    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=local,src=${dir}`), index: dst.index, store: dst.store });
    expect(imp.warnings).toEqual([]);
    expect(imp.entries.sort()).toEqual([src.keys.base, src.keys.copy, src.keys.env].sort());
    expect(await dst.index.get(src.keys.build)).toBeUndefined();
  });

  it('stops at the time budget: the rest is skipped, nothing throws, the previous cache stays', async () => {
    const src = await makeCacheFixture('-budget');
    const env = v2env();
    // First a good cache in the scope.
    const good = await exportCache(parseCacheExportSpec('type=gha,scope=budget,mode=max', env), src, opts);
    expect(good.manifest).toBeDefined();
    const other = await makeCacheFixture('-budget-2');
    gha.throttle = 1_000_000;
    const started = Date.now();
    let r;
    try {
      r = await exportCache(parseCacheExportSpec('type=gha,scope=budget,mode=max,timeout=400ms', env), other, {
        gha: { retries: 1000, retryBaseDelayMs: 50 },
        commitTimeoutMs: 300,
      });
    } finally {
      gha.throttle = 0;
    }
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.manifest).toBeUndefined();
    const blobs = r.skipped.filter((s) => s.kind === 'blob');
    expect(blobs).toHaveLength(4);
    for (const s of blobs) expect(s.reason).toMatch(/time budget/);
    expect(r.skipped.at(-1)).toMatchObject({ kind: 'manifest', reason: expect.stringContaining('previous cache') });

    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec('type=gha,scope=budget', env), index: dst.index, store: dst.store }, opts);
    expect(imp.manifest?.digest).toBe(good.manifest!.digest);
  });

  it('rides out GitHub throttling (429 + Retry-After) and says so', async () => {
    const src = await makeCacheFixture('-throttle');
    const throttled: string[] = [];
    gha.throttle = 3;
    const r = await exportCache(parseCacheExportSpec('type=gha,scope=throttle,mode=min', v2env()), src, {
      gha: { retryBaseDelayMs: 5, onThrottle: (t) => throttled.push(t.url) },
    });
    expect(r.skipped).toEqual([]);
    expect(r.manifest).toBeDefined();
    expect(throttled).toHaveLength(3);
    expect(throttled[0]).toContain('/twirp/github.actions.results.api.v1.CacheService/');
  });
});

describe('GitHub Actions cache layout', () => {
  it.each([2, 1] as const)('v%i: blobs are entries keyed by digest, large ones uploaded in blocks/chunks; manifests are newest-wins per scope', async (version) => {
    const env = version === 2 ? v2env() : v1env();
    const src = await makeCacheFixture(`-layout-${version}`);
    const big = await makeTempDir('bi-rc-big-');
    await writeTree(big, { 'big.bin': randomBytes(300_000) });
    const before = gha.requests.length;
    const first = await exportCache(parseCacheExportSpec(`type=gha,scope=layout-${version},mode=min`, env), { ...src, mounts: [{ id: 'big', dir: big }] }, { gha: { ...ghaOptions, chunkSize: 64 * 1024 } });
    expect(first.skipped).toEqual([]);
    const sent = gha.requests.slice(before);
    if (version === 2) expect(sent.filter((q) => q.method === 'PUT' && q.path.startsWith('/blob/')).length).toBeGreaterThan(5);
    else expect(sent.filter((q) => q.method === 'PATCH').length).toBeGreaterThan(5);
    for (const b of first.exported.blobs) expect(gha.keys(ghaBlobKey(b.digest))).toEqual([ghaBlobKey(b.digest)]);
    expect(gha.keys(ghaManifestPrefix(`layout-${version}`))).toHaveLength(1);

    // A later export of the same scope wins on import.
    const later = await exportCache(parseCacheExportSpec(`type=gha,scope=layout-${version},mode=max`, env), src, opts);
    expect(later.manifest!.digest).not.toBe(first.manifest!.digest);
    expect(gha.keys(ghaManifestPrefix(`layout-${version}`))).toHaveLength(2);
    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=gha,scope=layout-${version}`, env), index: dst.index, store: dst.store }, opts);
    expect(imp.manifest!.digest).toBe(later.manifest!.digest);
    expect(imp.entries).toHaveLength(4);

    // The big mount layer survives the block/chunk upload bit for bit.
    const dst2 = await emptyCache();
    const restored = await makeTempDir('bi-rc-big-restore-');
    const scopeFirst = await exportCache(parseCacheExportSpec(`type=gha,scope=layout-big-${version}`, env), { ...src, mounts: [{ id: 'big', dir: big }] }, { gha: { ...ghaOptions, chunkSize: 64 * 1024 } });
    expect(scopeFirst.skipped).toEqual([]);
    const imp2 = await importCache({ source: parseCacheImportSpec(`type=gha,scope=layout-big-${version}`, env), index: dst2.index, store: dst2.store, mounts: [{ id: 'big', dir: restored }] }, opts);
    expect(imp2.warnings).toEqual([]);
    expect((await readFile(path.join(restored, 'big.bin'))).equals(await readFile(path.join(big, 'big.bin')))).toBe(true);
  });

  it('a scope is not a prefix of another scope', async () => {
    const env = v2env();
    const a = await makeCacheFixture('-scope-a');
    await exportCache(parseCacheExportSpec('type=gha,scope=main-feature', env), a, opts);
    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec('type=gha,scope=main', env), index: dst.index, store: dst.store }, opts);
    expect(imp.found).toBe(false);
    expect(imp.warnings.map((w) => w.code)).toEqual(['E_CACHE_NOT_FOUND']);
  });

  it('a wrong token is a warning naming the cause', async () => {
    const dst = await emptyCache();
    const imp = await importCache(
      { source: parseCacheImportSpec('type=gha,scope=x', { ACTIONS_RESULTS_URL: gha.url, ACTIONS_RUNTIME_TOKEN: 'wrong' }), index: dst.index, store: dst.store },
      opts,
    );
    expect(imp.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    expect(imp.warnings[0]!.message).toContain('401');
  });
});

describe('local directory', () => {
  it('a re-export replaces the tag and removes blobs nothing references; other tags are kept', async () => {
    const dir = path.join(await makeTempDir('bi-rc-gc-'), 'cache');
    const a = await makeCacheFixture('-gc-a');
    const b = await makeCacheFixture('-gc-b');
    await exportCache(parseCacheExportSpec(`type=local,dest=${dir},mode=max`), a, opts);
    await exportCache(parseCacheExportSpec(`type=local,dest=${dir},mode=min,tag=release`), b, opts);
    const blobsOf = async () => new Set((await readdir(path.join(dir, 'blobs/sha256'))).map((h) => `sha256:${h}`));
    expect((await blobsOf()).has(a.layers.base)).toBe(true);
    // Re-export of `latest` with mode=min drops the intermediate layers of a.
    const r = await exportCache(parseCacheExportSpec(`type=local,dest=${dir},mode=min`), a, opts);
    const blobs = await blobsOf();
    expect(blobs.has(a.layers.base)).toBe(false);
    expect(blobs.has(a.layers.build)).toBe(false);
    expect(blobs.has(a.layers.copy)).toBe(true);
    expect(blobs.has(b.layers.copy)).toBe(true);
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']).sort()).toEqual(['latest', 'release']);
    expect(index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === 'latest')!.digest).toBe(r.manifest!.digest);
    expect(JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=local,src=${dir},tag=release`), index: dst.index, store: dst.store });
    expect(imp.entries.sort()).toEqual([b.keys.copy, b.keys.env].sort());
  });

  it('writes an OCI layout skopeo reads, and the same cache built in other temp dirs gives the same bytes', async () => {
    const one = await makeCacheFixture('-determinism');
    const two = await makeCacheFixture('-determinism');
    expect(two.root).not.toBe(one.root);
    const d1 = path.join(await makeTempDir('bi-rc-det-'), 'cache');
    const d2 = path.join(await makeTempDir('bi-rc-det-'), 'cache');
    const r1 = await exportCache(parseCacheExportSpec(`type=local,dest=${d1},mode=max`), one, { sourceDateEpoch: 0 });
    const r2 = await exportCache(parseCacheExportSpec(`type=local,dest=${d2},mode=max`), two, { sourceDateEpoch: 0 });
    expect(r2.manifest!.digest).toBe(r1.manifest!.digest);
    expect(await readFile(path.join(d2, 'index.json'), 'utf8')).toBe(await readFile(path.join(d1, 'index.json'), 'utf8'));
    const { stdout } = await execFileP('skopeo', ['inspect', '--raw', `oci:${d1}:latest`]);
    expect(`sha256:${require_sha256(stdout)}`).toBe(r1.manifest!.digest);
    expect((JSON.parse(stdout) as { artifactType: string }).artifactType).toBe(CACHE_ARTIFACT_TYPE);
  });

  it('a damaged blob is caught by its digest: the records needing it are left out, the rest imported', async () => {
    const dir = path.join(await makeTempDir('bi-rc-corrupt-'), 'cache');
    const src = await makeCacheFixture('-corrupt');
    await exportCache(parseCacheExportSpec(`type=local,dest=${dir},mode=max`), src, opts);
    const victim = path.join(dir, 'blobs/sha256', src.layers.build.slice('sha256:'.length));
    const bytes = await readFile(victim);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(victim, bytes);
    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=local,src=${dir}`), index: dst.index, store: dst.store });
    expect(imp.entries.sort()).toEqual([src.keys.base, src.keys.copy, src.keys.env].sort());
    expect(imp.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    expect(imp.warnings[0]!.message).toContain(src.layers.build);
    expect(await dst.store.has(src.layers.build)).toBe(false);
    expect((await dst.store.verify()).corrupt).toEqual([]);
  });

  it('a record whose pre-image does not hash to its key is ignored with a warning', async () => {
    const dir = path.join(await makeTempDir('bi-rc-forged-'), 'cache');
    const src = await makeCacheFixture('-forged');
    const good = await src.index.getPreimage(src.keys.env);
    const forgedKey = computeCacheKey([{ type: 'parent', value: null }, { type: 'op', value: 'RUN forged' }]).key;
    const records = [
      { key: src.keys.env, preimage: good!, result: { config: { Env: ['MODE=prod'] } } },
      { key: forgedKey, preimage: good!, result: { config: { Env: ['EVIL=1'] } } },
    ];
    const artifact = buildCacheArtifact(records, [], []);
    const writer = new LocalCacheWriter(dir);
    await src.store.putBytes(artifact.config);
    await writer.putBlob(artifact.configDescriptor, src.store, AbortSignal.timeout(5000));
    await writer.putManifest(artifact.manifest, artifact.manifestDescriptor, AbortSignal.timeout(5000));
    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=local,src=${dir}`), index: dst.index, store: dst.store });
    expect(imp.entries).toEqual([src.keys.env]);
    expect(imp.warnings.map((w) => w.code)).toEqual(['E_CACHE_CORRUPT']);
    expect(imp.warnings[0]!.message).toContain(forgedKey);
    expect(await dst.index.get(forgedKey)).toBeUndefined();
  });

  it('a directory that is not a build-image cache is a warning', async () => {
    const dir = await makeTempDir('bi-rc-notours-');
    await writeFile(path.join(dir, 'index.json'), '{not json');
    const dst = await emptyCache();
    const imp = await importCache({ source: parseCacheImportSpec(`type=local,src=${dir}`), index: dst.index, store: dst.store });
    expect(imp.found).toBe(false);
    expect(imp.warnings.map((w) => w.code)).toEqual(['E_CACHE_IMPORT']);
    expect(imp.warnings[0]!.message).toContain('index.json');
  });
});
