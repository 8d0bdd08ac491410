import { ContentStore, type Descriptor, type Digest } from '@build-image/cache';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, type BusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { MediaType, RegistryClient, RegistryError, type ImageIndex } from '../src/registry/index.js';

const sha = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

let reg: TestRegistry;
let busybox: BusyboxImage;
const stops: Array<{ stop(): Promise<void> }> = [];

async function newStore(): Promise<ContentStore> {
  return new ContentStore({ root: await makeTempDir('bi-store-') });
}

async function caught(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RegistryError);
    return e as RegistryError;
  }
  throw new Error('expected a RegistryError, got success');
}

beforeAll(async () => {
  reg = await startRegistry();
  stops.push(reg);
  busybox = await makeBusyboxImage({ registry: reg });
});
afterAll(async () => {
  for (const s of stops.reverse()) await s.stop();
  await cleanupTempDirs();
});

describe('pull a single-platform image', () => {
  it('resolves manifest and config, verified, and stores all blobs', async () => {
    const client = new RegistryClient();
    const store = await newStore();
    const img = await client.pullImage(`${reg.host}/busybox:latest`, 'linux/amd64', store);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(img.indexDigest).toBeUndefined();
    expect(img.configDescriptor.digest).toBe(busybox.configDigest);
    expect(img.config.rootfs?.diff_ids).toEqual([busybox.diffId]);
    expect(img.layers.map((l) => l.digest)).toEqual([busybox.layerDigest]);
    expect(img.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(sha(img.manifestBytes)).toBe(img.manifestDigest);
    for (const d of [busybox.manifestDigest, busybox.configDigest, busybox.layerDigest]) expect(await store.has(d as Digest)).toBe(true);
    expect(sha(await store.getBytes(busybox.layerDigest as Digest))).toBe(busybox.layerDigest);
  });

  it('resolves by digest and skips blobs the store already has', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    const client = new RegistryClient();
    const store = await newStore();
    const ref = `${proxy.host}/busybox@${busybox.manifestDigest}`;
    await client.pullImage(ref, undefined, store);
    const blobGets = () => proxy.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/' + busybox.layerDigest)).length;
    expect(blobGets()).toBe(1);
    await client.pullImage(ref, undefined, store);
    expect(blobGets()).toBe(1);
    // Manifest requests announce OCI and Docker manifests and indexes.
    const accept = String(proxy.requests.find((r) => r.url.includes('/manifests/'))!.headers.accept);
    for (const mt of [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifest, MediaType.DockerManifestList]) expect(accept).toContain(mt);
  });

  it('names the image and registry when the tag does not exist', async () => {
    const e = await caught(new RegistryClient().resolve(`${reg.host}/busybox:nope`));
    expect(e.status).toBe(404);
    expect(e.code).toBe('E_REGISTRY');
    expect(e.message).toBe(`image ${reg.host}/busybox:nope not found: ${reg.host} has no manifest nope (MANIFEST_UNKNOWN: manifest unknown)`);
    expect(e.data).toMatchObject({ image: `${reg.host}/busybox:nope`, registry: reg.host, status: 404, reason: 'not-found' });
    const e2 = await caught(new RegistryClient().resolve(`${reg.host}/nosuchrepo`));
    expect(e2.message).toMatch(/^image 127\.0\.0\.1:\d+\/nosuchrepo:latest not found/);
  });
});

describe('pull from a multi-platform index', () => {
  let indexDigest: Digest;
  let armManifestDigest: Digest;

  beforeAll(async () => {
    // A fake second platform: the same layer, a config claiming arm64/v8.
    const store = await newStore();
    const client = new RegistryClient();
    const amd = await client.pullImage(`${reg.host}/busybox`, 'linux/amd64', store);
    const armConfig = Buffer.from(JSON.stringify({ ...amd.config, architecture: 'arm64', variant: 'v8' }));
    await store.putBytes(armConfig);
    const armManifest = Buffer.from(JSON.stringify({ ...amd.manifest, config: { ...amd.manifest.config, digest: sha(armConfig), size: armConfig.length } }));
    armManifestDigest = (await store.putBytes(armManifest)).digest;
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: amd.manifestDigest, size: amd.manifestBytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MediaType.OciManifest, digest: armManifestDigest, size: armManifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        // An attestation-like entry that must never be selected or listed.
        { mediaType: MediaType.OciManifest, digest: amd.manifestDigest, size: amd.manifestBytes.length, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    };
    const bytes = Buffer.from(JSON.stringify(index));
    const pushed = await client.pushIndex(`${reg.host}/multi:1`, bytes, store);
    indexDigest = pushed.digest;
    expect(indexDigest).toBe(sha(bytes));
  });

  it('selects the host platform by default and the asked one otherwise', async () => {
    const client = new RegistryClient();
    const host = await client.resolve(`${reg.host}/multi:1`);
    expect(host.indexDigest).toBe(indexDigest);
    expect(host.manifestDigest).toBe(busybox.manifestDigest);
    const arm = await client.resolve(`${reg.host}/multi:1`, 'linux/arm64');
    expect(arm.manifestDigest).toBe(armManifestDigest);
    expect(arm.config.architecture).toBe('arm64');
    expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    // arm64/v8 and aarch64 are the same platform.
    expect((await client.resolve(`${reg.host}/multi:1`, 'linux/arm64/v8')).manifestDigest).toBe(armManifestDigest);
    expect((await client.resolve(`${reg.host}/multi:1`, { os: 'linux', architecture: 'aarch64' })).manifestDigest).toBe(armManifestDigest);
    expect((await client.resolve(`${reg.host}/multi@${indexDigest}`, 'linux/amd64')).manifestDigest).toBe(busybox.manifestDigest);
  });

  it('matches index entries without a platform by their config, as containerd does', async () => {
    const store = await newStore();
    const client = new RegistryClient();
    const amd = await client.pullImage(`${reg.host}/busybox`, 'linux/amd64', store);
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [{ mediaType: MediaType.OciManifest, digest: amd.manifestDigest, size: amd.manifestBytes.length }],
    };
    const bytes = Buffer.from(JSON.stringify(index));
    await client.pushIndex(`${reg.host}/noplatform:1`, bytes, store);
    const img = await client.resolve(`${reg.host}/noplatform:1`, 'linux/amd64');
    expect(img.manifestDigest).toBe(amd.manifestDigest);
    expect(img.platform).toEqual({ os: 'linux', architecture: 'amd64' });
    const e = await caught(client.resolve(`${reg.host}/noplatform:1`, 'linux/ppc64le'));
    expect(e.data.reason).toBe('platform');
  });

  it('fails with the available platforms when none fits', async () => {
    const e = await caught(new RegistryClient().resolve(`${reg.host}/multi:1`, 'linux/s390x'));
    expect(e.message).toBe(`no match for platform linux/s390x in ${reg.host}/multi:1 (available: linux/amd64, linux/arm64/v8)`);
    expect(e.data).toMatchObject({ reason: 'platform', available: ['linux/amd64', 'linux/arm64/v8'], registry: reg.host });
    expect((await caught(new RegistryClient().resolve(`${reg.host}/multi:1`, 'linux/arm/v7'))).data.reason).toBe('platform');
  });
});

describe('other failures', () => {
  it('names a 403 as access denied', async () => {
    const proxy = await startProxy(reg.url, {
      intercept: (req, res) => {
        if (!req.url.includes('/manifests/')) return false;
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
        return true;
      },
    });
    stops.push(proxy);
    const e = await caught(new RegistryClient().resolve(`${proxy.host}/busybox`));
    expect(e.status).toBe(403);
    expect(e.data).toMatchObject({ reason: 'denied', registryCodes: ['DENIED'], image: `${proxy.host}/busybox:latest`, registry: proxy.host });
    expect(e.message).toBe(
      `access to ${proxy.host}/busybox:latest denied by ${proxy.host} while fetching manifest latest (DENIED: requested access to the resource is denied): check that your account may access this repository (docker login ${proxy.host})`,
    );
  });

  it('stops when its AbortSignal fires', async () => {
    const proxy = await startProxy(reg.url, { delay: () => 2000 });
    stops.push(proxy);
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('build cancelled')), 100);
    const started = Date.now();
    await expect(new RegistryClient({ signal: ctl.signal }).resolve(`${proxy.host}/busybox`)).rejects.toThrow('build cancelled');
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe('verification against corrupt registries', () => {
  it('rejects a blob whose bytes do not match its digest and stores nothing', async () => {
    const proxy = await startProxy(reg.url, {
      transformResponse: (req, status, body) => {
        if (req.method === 'GET' && req.url.includes(`/blobs/${busybox.layerDigest}`) && status === 200) {
          const copy = Buffer.from(body);
          copy[copy.length >> 1] = copy[copy.length >> 1]! ^ 0xff; // same size, one flipped byte
          return copy;
        }
        return body;
      },
    });
    stops.push(proxy);
    const store = await newStore();
    const e = await caught(new RegistryClient().pullImage(`${proxy.host}/busybox`, 'linux/amd64', store));
    expect(e.data.reason).toBe('digest-mismatch');
    expect(e.message).toMatch(new RegExp(`^digest mismatch for blob ${busybox.layerDigest} of ${proxy.host}/busybox:latest from ${proxy.host}: got sha256:[0-9a-f]{64}`));
    expect(await store.has(busybox.layerDigest as Digest)).toBe(false);
  });

  it('rejects a manifest that does not match the pinned digest', async () => {
    const proxy = await startProxy(reg.url, {
      transformResponse: (req, _status, body) => (req.url.includes('/manifests/') ? Buffer.from(body.toString().replace('"schemaVersion":2', '"schemaVersion": 2')) : body),
    });
    stops.push(proxy);
    const e = await caught(new RegistryClient().resolve(`${proxy.host}/busybox@${busybox.manifestDigest}`));
    expect(e.data.reason).toBe('digest-mismatch');
    expect(e.message).toContain(`digest mismatch for manifest ${busybox.manifestDigest}`);
    // By tag, the registry's Docker-Content-Digest header is the reference to check against.
    const e2 = await caught(new RegistryClient().resolve(`${proxy.host}/busybox:1`));
    expect(e2.data.reason).toBe('digest-mismatch');
  });

  it('rejects a blob of the wrong size', async () => {
    const proxy = await startProxy(reg.url, {
      transformResponse: (req, status, body) => (req.url.includes(`/blobs/${busybox.configDigest}`) && status === 200 ? Buffer.concat([body, Buffer.from(' ')]) : body),
    });
    stops.push(proxy);
    const e = await caught(new RegistryClient().resolve(`${proxy.host}/busybox`));
    expect(e.data.reason).toBe('size-mismatch');
    expect(e.message).toContain(`expected ${busybox.manifest.config.size} bytes, got ${busybox.manifest.config.size + 1}`);
  });
});

describe('retries', () => {
  it('retries 503 twice, then passes through', async () => {
    let failures = 0;
    const proxy: TestProxy = await startProxy(reg.url, {
      intercept: (req, res) => {
        if (req.url.includes('/manifests/') && failures < 2) {
          failures++;
          res.writeHead(503, { 'retry-after': '0' }).end('busy');
          return true;
        }
        if (req.url.includes('/blobs/' + busybox.layerDigest) && failures < 4) {
          failures++;
          res.writeHead(503).end();
          return true;
        }
        return false;
      },
    });
    stops.push(proxy);
    const client = new RegistryClient({ retryBaseDelayMs: 10 });
    const store = await newStore();
    const img = await client.pullImage(`${proxy.host}/busybox`, 'linux/amd64', store);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(failures).toBe(4);
    expect(proxy.requests.filter((r) => r.url.includes('/manifests/')).length).toBe(3);
    expect(await store.has(busybox.layerDigest as Digest)).toBe(true);
  });

  it('honours Retry-After and gives up after the configured retries', async () => {
    const proxy = await startProxy(reg.url, { intercept: (_req, res) => (res.writeHead(429, { 'retry-after': '1' }).end(), true) });
    stops.push(proxy);
    const started = Date.now();
    const e = await caught(new RegistryClient({ retries: 1, retryBaseDelayMs: 1 }).resolve(`${proxy.host}/busybox`));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(e.status).toBe(429);
    expect(proxy.requests.length).toBe(2);
  });

  it('retries a connection reset', async () => {
    let resets = 0;
    const proxy = await startProxy(reg.url, {
      intercept: (req, res) => {
        if (req.url.includes('/manifests/') && resets < 1) {
          resets++;
          res.socket?.destroy();
          return true;
        }
        return false;
      },
    });
    stops.push(proxy);
    const img = await new RegistryClient({ retryBaseDelayMs: 5 }).resolve(`${proxy.host}/busybox`);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(resets).toBe(1);
  });
});

describe('mirrors', () => {
  it('resolves docker.io/library/busybox through a mirror', async () => {
    const proxy = await startProxy(reg.url);
    stops.push(proxy);
    // The loopback registry holds the image as library/busybox, as a Docker Hub mirror would.
    await makeBusyboxImage({ registry: reg, ref: 'library/busybox:latest' });
    const client = new RegistryClient({ mirrors: { 'docker.io': [`http://${proxy.host}`] } });
    const store = await newStore();
    const img = await client.pullImage('busybox', 'linux/amd64', store);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(img.source).toBe(`http://${proxy.host}`);
    expect(img.ref.registry).toBe('docker.io');
    expect(proxy.requests.map((r) => r.url)).toContain('/v2/library/busybox/manifests/latest');
    expect(await store.has(busybox.layerDigest as Digest)).toBe(true);
  });

  it('falls back to the next mirror when one does not have the image', async () => {
    const empty = await startRegistry();
    stops.push(empty);
    const client = new RegistryClient({ mirrors: { 'docker.io': [empty.host, reg.host] } });
    const img = await client.resolve('docker.io/library/busybox:latest', 'linux/amd64');
    expect(img.source).toBe(`http://${reg.host}`);
  });
});

describe('descriptor shapes', () => {
  it('layers are descriptors with media type, digest and size', async () => {
    const img = await new RegistryClient().resolve(`${reg.host}/busybox`);
    const layer: Descriptor = img.layers[0]!;
    expect(layer).toEqual({ mediaType: MediaType.OciLayerGzip, digest: busybox.layerDigest, size: busybox.manifest.layers[0]!.size });
  });
});

describe('bounded concurrency', () => {
  it('downloads at most `concurrency` layers at a time', async () => {
    // An image of six small random layers (content need not be a real tar for transport).
    const { randomBytes } = await import('node:crypto');
    const src = await newStore();
    const layers: Descriptor[] = [];
    for (let i = 0; i < 6; i++) {
      const { digest, size } = await src.putBytes(randomBytes(50_000));
      layers.push({ mediaType: MediaType.OciLayerGzip, digest, size });
    }
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
    const cfg = await src.putBytes(config);
    const manifest = { schemaVersion: 2 as const, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size }, layers };
    await new RegistryClient().pushImage(`${reg.host}/many:1`, { manifest }, src);

    let inFlight = 0;
    let peak = 0;
    const isLayer = (url: string) => layers.some((l) => url.endsWith(`/blobs/${l.digest}`));
    const proxy = await startProxy(reg.url, {
      delay: (req) => {
        if (!isLayer(req.url)) return 0;
        peak = Math.max(peak, ++inFlight);
        return 100;
      },
      onDone: (req) => {
        if (isLayer(req.url)) inFlight--;
      },
    });
    stops.push(proxy);
    const store = await newStore();
    await new RegistryClient({ concurrency: 2 }).pullImage(`${proxy.host}/many:1`, 'linux/amd64', store);
    expect(peak).toBe(2);
    for (const l of layers) expect(await store.has(l.digest)).toBe(true);
    peak = 0;
    await new RegistryClient({ concurrency: 4 }).pullImage(`${proxy.host}/many:1`, 'linux/amd64', await newStore());
    expect(peak).toBe(4);
  });
});
