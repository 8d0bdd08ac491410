import { ContentStore, type Digest } from '@build-image/cache';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, type BusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startProxy, startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import {
  MediaType,
  RegistryClient,
  RegistryError,
  StaticCredentialStore,
  type ImageIndex,
  type ResolvedImage,
} from '../src/registry/index.js';

const execFileP = promisify(execFile);
const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

let source: TestRegistry;
let busybox: BusyboxImage;
let store: ContentStore;
let image: ResolvedImage;
const stops: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  source = await startRegistry();
  stops.push(source);
  busybox = await makeBusyboxImage({ registry: source });
  store = new ContentStore({ root: await makeTempDir('bi-store-') });
  image = await new RegistryClient().pullImage(`${source.host}/busybox`, 'linux/amd64', store);
});
afterAll(async () => {
  for (const s of stops.reverse()) await s.stop();
  await cleanupTempDirs();
});

function credsFor(reg: TestRegistry): StaticCredentialStore | undefined {
  return reg.username ? new StaticCredentialStore({ [reg.host]: { username: reg.username, password: reg.password! } }) : undefined;
}
function skopeoCreds(reg: TestRegistry, flag: string): string[] {
  return reg.username ? [flag, `${reg.username}:${reg.password}`] : [];
}

describe.each(['none', 'htpasswd', 'token'] as const)('push/pull round trip with auth=%s', (auth) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
    stops.push(reg);
  });

  it('pushes blobs and the manifest by every tag, and reads it back', async () => {
    const client = new RegistryClient({ auth: credsFor(reg) });
    const result = await client.pushImage([`${reg.host}/team/app:1`, `${reg.host}/team/app:latest`], { manifest: image.manifestBytes }, store);
    expect(result.digest).toBe(busybox.manifestDigest);
    expect(result.references).toEqual([`${reg.host}/team/app:1`, `${reg.host}/team/app:latest`]);
    expect(result.blobs).toEqual({ [busybox.configDigest]: 'uploaded', [busybox.layerDigest]: 'uploaded' });

    // Read back with a fresh client and store.
    const back = new ContentStore({ root: await makeTempDir('bi-store-') });
    const pulled = await new RegistryClient({ auth: credsFor(reg) }).pullImage(`${reg.host}/team/app:latest`, 'linux/amd64', back);
    expect(pulled.manifestDigest).toBe(busybox.manifestDigest);
    expect(sha(await back.getBytes(busybox.layerDigest as Digest))).toBe(busybox.layerDigest);

    // An independent client agrees.
    const { stdout } = await execFileP('skopeo', ['inspect', '--tls-verify=false', ...skopeoCreds(reg, '--creds'), `docker://${reg.host}/team/app:1`]);
    expect(JSON.parse(stdout)).toMatchObject({ Digest: busybox.manifestDigest, Layers: [busybox.layerDigest], Architecture: 'amd64' });
    const dir = await makeTempDir('bi-skopeo-');
    await execFileP('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ...skopeoCreds(reg, '--src-creds'), `docker://${reg.host}/team/app:1`, `oci:${dir}:app`]);
    const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as ImageIndex;
    expect(index.manifests[0]!.digest).toBe(busybox.manifestDigest);
    expect(sha(await readFile(path.join(dir, 'blobs/sha256', busybox.layerDigest.slice(7))))).toBe(busybox.layerDigest);
  });

  it('skips blobs the registry already has', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    const creds = reg.username ? new StaticCredentialStore({ [proxy.host]: { username: reg.username, password: reg.password! } }) : undefined;
    const result = await new RegistryClient({ auth: creds }).pushImage(`${proxy.host}/team/app:again`, { manifest: image.manifestBytes }, store);
    expect(result.blobs).toEqual({ [busybox.configDigest]: 'exists', [busybox.layerDigest]: 'exists' });
    expect(proxy.requests.filter((r) => r.method === 'POST' || r.method === 'PATCH').length).toBe(0);
    expect(proxy.requests.filter((r) => r.method === 'PUT').map((r) => r.url)).toEqual(['/v2/team/app/manifests/again']);
  });

  it('mounts blobs from another repository of the same registry', async () => {
    const client = new RegistryClient({ auth: credsFor(reg) });
    reg.tokenRequests.length = 0;
    const result = await client.pushImage(`${reg.host}/other:1`, { manifest: image.manifestBytes }, store, {
      mountFrom: { [busybox.layerDigest]: [`${reg.host}/team/app:1`], [busybox.configDigest]: [`${reg.host}/team/app`] },
    });
    expect(result.blobs).toEqual({ [busybox.configDigest]: 'mounted', [busybox.layerDigest]: 'mounted' });
    if (auth === 'token') {
      // The mount token must carry pull on the source repository as well as push on the target.
      expect(reg.tokenRequests.some((t) => t.scopes.includes('repository:other:pull,push') && t.scopes.includes('repository:team/app:pull'))).toBe(true);
    }
    const { stdout } = await execFileP('skopeo', ['inspect', '--tls-verify=false', ...skopeoCreds(reg, '--creds'), `docker://${reg.host}/other:1`]);
    expect(JSON.parse(stdout).Digest).toBe(busybox.manifestDigest);
  });

  it('explains a missing or wrong login', async () => {
    if (auth === 'none') return;
    const e = (await new RegistryClient().pushImage(`${reg.host}/team/app:x`, { manifest: image.manifestBytes }, store).catch((x) => x)) as RegistryError;
    expect(e).toBeInstanceOf(RegistryError);
    expect(e.status).toBe(401);
    const expected = `authentication required for ${reg.host}/team/app:x: run docker login ${reg.host} or check ~/.docker/config.json`;
    // A token registry answers insufficient_scope, which also means "no such repository": say so.
    expect(e.message).toBe(auth === 'token' ? `${expected} (registries also answer this way when the repository does not exist)` : expected);
    expect(e.data).toMatchObject({ image: `${reg.host}/team/app:x`, registry: reg.host, status: 401, reason: 'unauthorized' });
    const wrong = new StaticCredentialStore({ [reg.host]: { username: reg.username!, password: 'wrong' } });
    const e2 = (await new RegistryClient({ auth: wrong }).resolve(`${reg.host}/team/app:1`).catch((x) => x)) as RegistryError;
    expect(e2.status).toBe(401);
    expect(e2.message).toMatch(new RegExp(`^authentication failed for ${reg.host}/team/app:1: .*run docker login ${reg.host}`));
  });
});

describe('upload modes', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
    stops.push(reg);
  });

  it('uploads a small blob monolithically (POST, then PUT with the digest)', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    const result = await new RegistryClient().pushImage(`${proxy.host}/mono:1`, { manifest: image.manifestBytes }, store);
    expect(result.blobs[busybox.layerDigest]).toBe('uploaded');
    expect(proxy.requests.some((r) => r.method === 'PATCH')).toBe(false);
    const put = proxy.requests.find((r) => r.method === 'PUT' && r.url.includes(`digest=${encodeURIComponent(busybox.layerDigest)}`))!;
    expect(put.headers['content-length']).toBe(String(busybox.manifest.layers[0]!.size));
  });

  it('uploads a large blob in chunks with Content-Range', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    const chunkSize = 256 * 1024;
    const size = busybox.manifest.layers[0]!.size;
    const client = new RegistryClient({ chunkedUploadThreshold: 1024, chunkSize });
    const result = await client.pushImage(`${proxy.host}/chunked:1`, { manifest: image.manifestBytes }, store);
    expect(result.blobs[busybox.layerDigest]).toBe('uploaded-chunked');
    const patches = proxy.requests.filter((r) => r.method === 'PATCH');
    const expectedChunks = Math.ceil(size / chunkSize);
    // The config (< 1 KiB) is under the threshold: only the layer is chunked.
    expect(patches.map((p) => p.headers['content-range'])).toEqual(
      Array.from({ length: expectedChunks }, (_, i) => `${i * chunkSize}-${Math.min(size, (i + 1) * chunkSize) - 1}`),
    );
    const dir = await makeTempDir('bi-skopeo-');
    await execFileP('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${reg.host}/chunked:1`, `oci:${dir}:x`]);
    expect(sha(await readFile(path.join(dir, 'blobs/sha256', busybox.layerDigest.slice(7))))).toBe(busybox.layerDigest);
  });

  it('mounts automatically into a sibling repository this client pushed to', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    const client = new RegistryClient();
    const first = await client.pushImage(`${proxy.host}/sib-a:1`, { manifest: image.manifestBytes }, store);
    expect(first.blobs[busybox.layerDigest]).toBe('uploaded');
    const second = await client.pushImage(`${proxy.host}/sib-b:1`, { manifest: image.manifestBytes }, store);
    expect(second.blobs[busybox.layerDigest]).toBe('mounted');
    expect(proxy.requests.some((r) => r.method === 'POST' && r.url === `/v2/sib-b/blobs/uploads/?mount=${encodeURIComponent(busybox.layerDigest)}&from=sib-a`)).toBe(true);
  });

  it('pushes an index with its child manifests, readable by skopeo --all', async () => {
    const armConfig = Buffer.from(JSON.stringify({ ...image.config, architecture: 'arm64' }));
    await store.putBytes(armConfig);
    const armManifest = Buffer.from(JSON.stringify({ ...image.manifest, config: { ...image.manifest.config, digest: sha(armConfig), size: armConfig.length } }));
    await store.putBytes(armManifest);
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: image.manifestDigest, size: image.manifestBytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaType.OciManifest, digest: sha(armManifest), size: armManifest.length, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(index));
    const result = await new RegistryClient().pushIndex([`${reg.host}/multi:1`, `${reg.host}/multi:latest`], bytes, store);
    expect(result.digest).toBe(sha(bytes));
    const { stdout } = await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi:latest`]);
    expect(sha(stdout)).toBe(result.digest);
    const dir = await makeTempDir('bi-skopeo-');
    await execFileP('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${reg.host}/multi:1`, `oci:${dir}:x`]);
    const armOnDisk = await readFile(path.join(dir, 'blobs/sha256', sha(armManifest).slice(7)));
    expect(armOnDisk.equals(armManifest)).toBe(true);
  });

  it('restarts an upload whose PUT or PATCH failed with 5xx', async () => {
    let failedPut = false;
    let failedPatch = false;
    const proxy = await startProxy(reg.url, {
      intercept: (req, res) => {
        if (req.method === 'PUT' && req.url.includes('digest=') && !failedPut) {
          failedPut = true;
          res.writeHead(502).end();
          return true;
        }
        if (req.method === 'PATCH' && !failedPatch) {
          failedPatch = true;
          res.writeHead(503).end();
          return true;
        }
        return false;
      },
    });
    stops.push(proxy);
    const r1 = await new RegistryClient({ retryBaseDelayMs: 1 }).pushImage(`${proxy.host}/flaky:1`, { manifest: image.manifestBytes }, store);
    expect(r1.blobs[busybox.layerDigest]).toBe('uploaded');
    expect(failedPut).toBe(true);
    const r2 = await new RegistryClient({ retryBaseDelayMs: 1, chunkedUploadThreshold: 1024, chunkSize: 512 * 1024 }).pushImage(`${proxy.host}/flaky2:1`, { manifest: image.manifestBytes }, store);
    expect(r2.blobs[busybox.layerDigest]).toBe('uploaded-chunked');
    expect(failedPatch).toBe(true);
    const { stdout } = await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/flaky2:1`]);
    expect(JSON.parse(stdout).Digest).toBe(busybox.manifestDigest);
  });

  it('says which blob is missing from the local store', async () => {
    const empty = new ContentStore({ root: await makeTempDir('bi-store-') });
    const e = (await new RegistryClient().pushImage(`${reg.host}/missing:1`, { manifest: image.manifestBytes }, empty).catch((x) => x)) as RegistryError;
    expect(e).toBeInstanceOf(RegistryError);
    expect(e.data.reason).toBe('local-blob-missing');
    expect(e.message).toMatch(new RegExp(`^cannot push ${reg.host}/missing:1: blob sha256:[0-9a-f]{64} is not in the local content store`));
  });

  it('pushes by digest when the reference has no tag', async () => {
    const digest = await new RegistryClient().pushManifest(`${reg.host}/bydigest@${image.manifestDigest}`, image.manifestBytes, image.manifest.mediaType!).catch((e) => e);
    // The registry refuses a manifest whose blobs it does not have in that repository.
    expect(digest).toBeInstanceOf(RegistryError);
    await new RegistryClient().pushImage(`${reg.host}/bydigest:t`, { manifest: image.manifestBytes }, store);
    expect(await new RegistryClient().pushManifest(`${reg.host}/bydigest@${image.manifestDigest}`, image.manifestBytes, image.manifest.mediaType!)).toBe(image.manifestDigest);
  });
});
