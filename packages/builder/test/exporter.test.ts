import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ContentStore, Digest } from '@build-image/cache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDockerTar, exportOciLayout, exportOciTar, exportRootfs, ExportError } from '../src/exporter/index.js';
import { MediaType, canonicalJson, sha256Digest, type Image } from '../src/image/index.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { makeStore, makeTestImage, run } from './layer-helpers.js';

afterAll(cleanupTempDirs);

async function readTar(path: string): Promise<Map<string, { type: string; mtime: number; mode: number; body: Buffer }>> {
  const out = new Map<string, { type: string; mtime: number; mode: number; body: Buffer }>();
  const extract = tar.extract();
  createReadStream(path).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
    out.set(entry.header.name, { type: entry.header.type, mtime: entry.header.mtime.getTime(), mode: entry.header.mode, body: Buffer.concat(chunks) });
  }
  return out;
}

describe('exporters', () => {
  let tmp: string;
  let store: ContentStore;
  let image: Image;

  beforeAll(async () => {
    tmp = await makeTempDir('export-');
    store = makeStore(join(tmp, 'store'));
    image = await makeTestImage(store, tmp, { 'hello.txt': 'hello world\n', 'etc/app.conf': 'x=1\n' }, { env: ['PATH=/bin', 'APP=1'] });
  });

  it('a tar export to a slow destination reads the store only a little ahead of it (no image in memory)', async () => {
    const big = await makeTestImage(store, await makeTempDir('export-slow-'), { 'big.bin': randomBytes(24 << 20) });
    let served = 0;
    let received = 0;
    let maxAhead = 0;
    // Every byte the exporter reads from the store, counted as it is handed over.
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'get') return Reflect.get(target, prop, receiver);
        return (digest: Digest) =>
          target.get(digest).pipe(
            new Transform({
              transform(chunk: Buffer, _enc, cb) {
                served += chunk.length;
                cb(null, chunk);
              },
            }),
          );
      },
    });
    const slow = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        maxAhead = Math.max(maxAhead, served - received);
        setTimeout(cb, 1);
      },
    });
    await exportOciTar(big, counting, slow);
    expect(received).toBeGreaterThan(24 << 20);
    expect(served).toBeGreaterThan(24 << 20);
    expect(maxAhead).toBeLessThan(4 << 20);
  });

  it('putImage stores canonical config and manifest blobs', async () => {
    const manifestBytes = await store.getBytes(image.manifestDescriptor.digest);
    expect(manifestBytes.toString()).toBe(canonicalJson(image.manifest));
    expect(sha256Digest(manifestBytes)).toBe(image.manifestDescriptor.digest);
    expect(image.manifest.mediaType).toBe(MediaType.OciManifest);
    expect(image.manifest.config.mediaType).toBe(MediaType.OciConfig);
  });

  it('writes an OCI layout that umoci (strict) unpacks and skopeo inspects', async () => {
    const dir = join(tmp, 'layout');
    await exportOciLayout(image, store, dir, { names: ['example.com/team/app:1.0'] });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: image.manifestDescriptor.digest,
        size: image.manifestDescriptor.size,
        annotations: {
          'io.containerd.image.name': 'example.com/team/app:1.0',
          'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
          'org.opencontainers.image.ref.name': '1.0',
        },
      },
    ]);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    // blobs are hardlinked from the store (same file system)
    const layerHex = image.layers[0]!.digest.slice(7);
    expect((await stat(join(dir, 'blobs/sha256', layerHex))).ino).toBe((await stat(store.pathOf(image.layers[0]!.digest))).ino);

    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci:${dir}:1.0`]));
    expect(inspect.Digest).toBe(image.manifestDescriptor.digest);
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Env).toEqual(['PATH=/bin', 'APP=1']);
    expect(inspect.Layers).toEqual([image.layers[0]!.digest]);
    const config = JSON.parse(await run('skopeo', ['inspect', '--config', `oci:${dir}:1.0`]));
    expect(config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);

    const bundle = join(tmp, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${dir}:1.0`, bundle]);
    expect(await readFile(join(bundle, 'rootfs/hello.txt'), 'utf8')).toBe('hello world\n');
    expect(await readFile(join(bundle, 'rootfs/etc/app.conf'), 'utf8')).toBe('x=1\n');
  });

  it('adds to an existing layout, replacing an entry with the same tag', async () => {
    const dir = join(tmp, 'layout-multi');
    const other = await makeTestImage(store, tmp, { 'other.txt': 'other' });
    await exportOciLayout(image, store, dir, { names: ['app:1', 'app:latest'] });
    await exportOciLayout(other, store, dir, { names: ['app:1'] });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const byTag = Object.fromEntries(index.manifests.map((m: { annotations: Record<string, string>; digest: string }) => [m.annotations['org.opencontainers.image.ref.name'], m.digest]));
    expect(byTag).toEqual({ latest: image.manifestDescriptor.digest, '1': other.manifestDescriptor.digest });
    expect(index.manifests.find((m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === 'latest').annotations['io.containerd.image.name']).toBe(
      'docker.io/library/app:latest',
    );
    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci:${dir}:1`]));
    expect(inspect.Digest).toBe(other.manifestDescriptor.digest);
  });

  it('writes a deterministic OCI tar with a docker-loadable manifest.json, read by skopeo oci-archive', async () => {
    const file = join(tmp, 'image-oci.tar');
    await exportOciTar(image, store, file, { names: ['app:1.0'] });
    const again = join(tmp, 'image-oci-2.tar');
    await exportOciTar(image, store, again, { names: ['app:1.0'] });
    expect(sha256Digest(await readFile(again))).toBe(sha256Digest(await readFile(file)));

    const entries = await readTar(file);
    const names = [...entries.keys()];
    expect(names).toEqual([
      'blobs/',
      'blobs/sha256/',
      ...[image.manifest.config.digest, image.layers[0]!.digest, image.manifestDescriptor.digest].map((d) => `blobs/sha256/${d.slice(7)}`).sort(),
      'index.json',
      'manifest.json',
      'oci-layout',
      'repositories',
    ]);
    for (const e of entries.values()) expect(e.mtime).toBe(0);
    const manifestJson = JSON.parse(entries.get('manifest.json')!.body.toString());
    expect(manifestJson).toEqual([{ Config: `blobs/sha256/${image.manifest.config.digest.slice(7)}`, RepoTags: ['app:1.0'], Layers: [`blobs/sha256/${image.layers[0]!.digest.slice(7)}`] }]);
    for (const p of [manifestJson[0].Config, ...manifestJson[0].Layers]) {
      expect(entries.has(p)).toBe(true);
      expect(sha256Digest(entries.get(p)!.body)).toBe(`sha256:${p.split('/').pop()}`);
    }
    expect(JSON.parse(entries.get('repositories')!.body.toString())).toEqual({ app: { '1.0': image.manifest.config.digest.slice(7) } });

    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${file}`]));
    expect(inspect.Digest).toBe(image.manifestDescriptor.digest);
    expect(inspect.Env).toEqual(['PATH=/bin', 'APP=1']);
    // Docker's reader of the same tar (what `docker load` parses): manifest.json must be right
    const docker = JSON.parse(await run('skopeo', ['inspect', `docker-archive:${file}`]));
    // docker-archive readers identify layers by diffID (the config's rootfs), as `docker load` does
    expect(docker.Layers).toEqual(image.config.rootfs.diff_ids);
    expect(docker.Env).toEqual(['PATH=/bin', 'APP=1']);
  });

  it('writes type=docker with Docker media types, layer blobs unchanged', async () => {
    const file = join(tmp, 'image-docker.tar');
    const docker = await exportDockerTar(image, store, file, { names: ['app:2'] });
    expect(docker.manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(docker.manifest.config.mediaType).toBe(MediaType.DockerConfig);
    expect(docker.manifest.layers.map((l) => [l.mediaType, l.digest])).toEqual([[MediaType.DockerLayerGzip, image.layers[0]!.digest]]);
    expect(docker.manifestDescriptor.digest).not.toBe(image.manifestDescriptor.digest);
    const entries = await readTar(file);
    const index = JSON.parse(entries.get('index.json')!.body.toString());
    expect(index.manifests[0].mediaType).toBe(MediaType.DockerManifest);
    expect(index.manifests[0].digest).toBe(docker.manifestDescriptor.digest);
    const stored = JSON.parse(entries.get(`blobs/sha256/${docker.manifestDescriptor.digest.slice(7)}`)!.body.toString());
    expect(stored.mediaType).toBe(MediaType.DockerManifest);
    const inspect = JSON.parse(await run('skopeo', ['inspect', `docker-archive:${file}`]));
    expect(inspect.Layers).toEqual(image.config.rootfs.diff_ids);
    const ociView = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${file}`]));
    expect(ociView.Digest).toBe(docker.manifestDescriptor.digest);
  });

  it('exports the rootfs (type=local) and fails clearly on a missing blob', async () => {
    const dir = join(tmp, 'rootfs');
    await exportRootfs(image, store, dir);
    expect((await readdir(dir)).sort()).toEqual(['etc', 'hello.txt']);
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('hello world\n');

    const empty = makeStore(join(tmp, 'empty-store'));
    await mkdir(empty.root, { recursive: true });
    const err = await exportOciLayout(image, empty, join(tmp, 'nolayout')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect((err as ExportError).code).toBe('E_EXPORT_BLOB_MISSING');
  });
});
