import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, type BusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startProxy, startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs } from '../../../test/helpers/tmp.js';
import {
  isLoopbackHost,
  MediaType,
  parseChallenge,
  parsePlatform,
  platformRank,
  RegistryClient,
  RegistryError,
  retryAfter,
  selectPlatform,
  type ImageIndex,
} from '../src/registry/index.js';
import { credentialKey, RegistryTransport } from '../src/registry/transport.js';
import { normalizePlatform } from '@build-image/parser';

describe('platform normalization (containerd rules)', () => {
  it.each([
    [{ os: 'Linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, { os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'aarch64' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, { os: 'linux', architecture: 'arm64' }],
    [{ os: 'linux', architecture: 'arm' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'armhf' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'linux', architecture: 'armel' }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, { os: 'linux', architecture: 'arm', variant: 'v6' }],
    [{ os: 'linux', architecture: 'i386' }, { os: 'linux', architecture: '386' }],
    [{ os: 'macOS', architecture: 'arm64' }, { os: 'darwin', architecture: 'arm64' }],
  ])('%j → %j', (input, out) => expect(normalizePlatform(input)).toEqual(out));

  it('ranks exact matches first and accepts older variants', () => {
    expect(platformRank(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8'))).toBe(0);
    expect(platformRank(parsePlatform('linux/arm64/v8'), parsePlatform('linux/arm64'))).toBe(0);
    expect(platformRank(parsePlatform('linux/arm/v7'), parsePlatform('linux/arm/v6'))).toBe(1);
    expect(platformRank(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/amd64'), parsePlatform('linux/arm64'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/amd64'), parsePlatform('windows/amd64'))).toBeUndefined();
    expect(platformRank(parsePlatform('linux/amd64'), undefined)).toBeUndefined();
    expect(() => parsePlatform('linux/amd64/v8/x')).toThrow(/invalid platform/);
  });

  it('selectPlatform prefers the exact variant over an older one, whatever the order', () => {
    const d = (n: string, variant: string) => ({ mediaType: MediaType.OciManifest, digest: `sha256:${n.repeat(64)}`, size: 1, platform: { os: 'linux', architecture: 'arm', variant } });
    const index = { schemaVersion: 2, manifests: [d('5', 'v5'), d('6', 'v6'), d('7', 'v7')] } as unknown as ImageIndex;
    expect(selectPlatform(index, parsePlatform('linux/arm/v7'))!.digest).toBe(`sha256:${'7'.repeat(64)}`);
    expect(selectPlatform(index, parsePlatform('linux/arm/v6'))!.digest).toBe(`sha256:${'6'.repeat(64)}`);
    expect(selectPlatform(index, parsePlatform('linux/arm64'))).toBeUndefined();
  });
});

describe('WWW-Authenticate, Retry-After, hosts', () => {
  it('parses Bearer and Basic challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: 'basic', params: { realm: 'Registry Realm' } });
    expect(parseChallenge('Bearer realm="https://x/token",error="insufficient_scope"')!.params.error).toBe('insufficient_scope');
    expect(parseChallenge('Negotiate abc, Basic realm="r"')).toEqual({ scheme: 'basic', params: { realm: 'r' } });
    expect(parseChallenge(null)).toBeUndefined();
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfter('3')).toBe(3000);
    expect(retryAfter(null)).toBeUndefined();
    const d = retryAfter(new Date(Date.now() + 5000).toUTCString())!;
    expect(d).toBeGreaterThan(3000);
    expect(d).toBeLessThanOrEqual(5000);
  });

  it('treats loopback hosts as plain HTTP, and Docker Hub as registry-1.docker.io over HTTPS', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['docker.io', '10.0.0.1:5000', 'localhost.example.com', '[fe80::1]:5000']) expect(isLoopbackHost(h)).toBe(false);
    const t = new RegistryTransport({ insecureRegistries: ['10.0.0.1:5000'] });
    expect(t.endpointFor('docker.io').base).toBe('https://registry-1.docker.io');
    expect(t.endpointFor('127.0.0.1:5000').base).toBe('http://127.0.0.1:5000');
    expect(t.endpointFor('10.0.0.1:5000').base).toBe('http://10.0.0.1:5000');
    expect(t.endpointFor('ghcr.io').base).toBe('https://ghcr.io');
    expect(t.mirrorEndpoint('docker.io', 'mirror.gcr.io').base).toBe('https://mirror.gcr.io');
    expect(t.mirrorEndpoint('docker.io', 'http://127.0.0.1:5001/').base).toBe('http://127.0.0.1:5001');
    expect(t.mirrorEndpoint('docker.io', '127.0.0.1:5001').base).toBe('http://127.0.0.1:5001');
    // Credentials are looked up by the registry's name, or by a mirror's own host.
    expect(credentialKey(t.endpointFor('docker.io'))).toBe('docker.io');
    expect(credentialKey(t.mirrorEndpoint('docker.io', 'mirror.example:5000'))).toBe('mirror.example:5000');
  });
});

const externalIp = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

describe.skipIf(!externalIp)('plain-HTTP registries on a non-loopback address', () => {
  let reg: TestRegistry;
  let busybox: BusyboxImage;
  const stops: Array<{ stop(): Promise<void> }> = [];
  beforeAll(async () => {
    reg = await startRegistry();
    stops.push(reg);
    busybox = await makeBusyboxImage({ registry: reg });
  });
  afterAll(async () => {
    for (const s of stops) await s.stop();
    await cleanupTempDirs();
  });

  it('suggests --insecure-registry when HTTPS meets a plain-HTTP server', async () => {
    const proxy = await startProxy(reg.url, { listen: externalIp });
    stops.push(proxy);
    const e = (await new RegistryClient().resolve(`${proxy.host}/busybox`).catch((x) => x)) as RegistryError;
    expect(e).toBeInstanceOf(RegistryError);
    expect(e.data.reason).toBe('tls');
    expect(e.message).toMatch(new RegExp(`^cannot talk HTTPS to ${proxy.host.replace(/\./g, '\\.')} for ${proxy.host.replace(/\./g, '\\.')}/busybox:latest .*it looks like a plain-HTTP registry; allow it with --insecure-registry ${proxy.host.replace(/\./g, '\\.')}$`));
    // With the flag, the same address works over plain HTTP.
    const img = await new RegistryClient({ insecureRegistries: [proxy.host] }).resolve(`${proxy.host}/busybox`);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
  });

  it('reports an unreachable registry as a network error naming the host', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const e = (await new RegistryClient({ retries: 0 }).resolve(`127.0.0.1:${port}/x`).catch((x) => x)) as RegistryError;
    expect(e.data.reason).toBe('network');
    expect(e.message).toMatch(new RegExp(`^cannot reach registry 127\\.0\\.0\\.1:${port} for 127\\.0\\.0\\.1:${port}/x:latest: .*ECONNREFUSED`));
  });
});
