/**
 * End to end with a real registry (distribution, on loopback): base images pulled from it,
 * images pushed to it (`--output type=registry`, `--push -t`), checked with skopeo (an independent
 * client) and umoci, then used as the base of a second build; with htpasswd and bearer-token auth,
 * credentials coming from a DOCKER_CONFIG `auths` entry.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, PASSWD, type BusyboxImage } from './helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { buildImage, file, listTree, readLayout, run, runCli, skopeoInspect, unpackLayout } from './helpers/e2e.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';

const registries: TestRegistry[] = [];
let busybox: BusyboxImage;
const savedDockerConfig = process.env.DOCKER_CONFIG;

beforeAll(async () => {
  busybox = await makeBusyboxImage();
  // No ambient credentials: each test points DOCKER_CONFIG at its own config.
  process.env.DOCKER_CONFIG = await makeTempDir('e2e-docker-config-empty-');
});
afterAll(async () => {
  if (savedDockerConfig === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = savedDockerConfig;
  await Promise.all(registries.map((r) => r.stop()));
  await cleanupTempDirs();
});

async function registry(auth: 'none' | 'htpasswd' | 'token'): Promise<TestRegistry> {
  const reg = await startRegistry({ auth });
  registries.push(reg);
  await makeBusyboxImage({ registry: reg });
  return reg;
}

/** A DOCKER_CONFIG dir whose config.json has an `auths` entry for the registry. */
async function dockerConfigFor(reg: TestRegistry): Promise<string> {
  const dir = await makeTempDir('e2e-docker-config-');
  const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
  return dir;
}

/** skopeo copy docker://REF → a fresh OCI layout (tag `latest`), with credentials when the registry has them. */
async function pullWithSkopeo(reg: TestRegistry, ref: string): Promise<string> {
  const dir = path.join(await makeTempDir('e2e-skopeo-'), 'layout');
  const creds = reg.username ? ['--src-creds', `${reg.username}:${reg.password}`] : [];
  await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', ...creds, `docker://${ref}`, `oci:${dir}:latest`]);
  return dir;
}

/** Push with build() FROM the registry's busybox, pull back with skopeo, build again FROM the pushed image. */
async function roundTrip(reg: TestRegistry): Promise<void> {
  const pushedRef = `${reg.host}/app:1`;
  const first = await buildImage({
    files: { 'hello.txt': 'hello from the registry round trip\n' },
    dockerfile: `FROM ${reg.host}/busybox\nCOPY --chown=app hello.txt /srv/hello.txt\nCOPY --from=${reg.host}/busybox:1 /etc/passwd /srv/passwd\nCMD ["cat", "/srv/hello.txt"]\n`,
    outputs: [{ type: 'registry', names: [pushedRef], push: true, insecure: false, attrs: {} }],
  });
  expect(first.result.outputs.find((o) => o.type === 'registry')).toEqual({ type: 'registry', destination: pushedRef, digest: first.result.digest });

  const inspected = await skopeoInspect(`docker://${pushedRef}`, ['--tls-verify=false', ...(reg.username ? ['--creds', `${reg.username}:${reg.password}`] : [])]);
  expect(inspected.Digest).toBe(first.result.digest);
  expect(inspected.Layers).toHaveLength(3);
  expect(inspected.Layers[0]).toBe(busybox.layerDigest);

  const pulled = await pullWithSkopeo(reg, pushedRef);
  const img = await readLayout(pulled);
  expect(img.manifestDigest).toBe(first.result.digest);
  expect(img.config.config.Cmd).toEqual(['cat', '/srv/hello.txt']);
  const tree = await listTree((await unpackLayout(pulled)).rootfs, { skip: ['bin'] });
  expect(tree['srv/hello.txt']).toEqual(file('hello from the registry round trip\n', '0644', 1000, 1000));
  expect(tree['srv/passwd']).toEqual(file(PASSWD));

  const second = await buildImage({ files: { 'more.txt': 'more' }, dockerfile: `FROM ${pushedRef}\nCOPY more.txt /srv/\n` });
  const secondImg = await readLayout(second.layoutDir);
  expect(secondImg.manifest.layers.slice(0, 3).map((l) => l.digest)).toEqual(inspected.Layers);
  expect(secondImg.config.config.Cmd).toEqual(['cat', '/srv/hello.txt']);
  const secondTree = await listTree((await unpackLayout(second.layoutDir)).rootfs, { skip: ['bin'] });
  expect(secondTree['srv/hello.txt']).toEqual(file('hello from the registry round trip\n', '0644', 1000, 1000));
  expect(secondTree['srv/more.txt']).toEqual(file('more'));
}

describe('open registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await registry('none');
  });

  it('FROM the registry, --output type=registry, skopeo copy/inspect, FROM the pushed image', async () => {
    await roundTrip(reg);
  });

  it('the CLI: --push -t pushes every tag; the pushed manifest is the one --metadata-file names', async () => {
    const ctx = await makeTempDir('e2e-cli-push-');
    await writeTree(ctx, { Dockerfile: `FROM ${reg.host}/busybox:1\nCOPY x /x\n`, x: 'x' });
    const meta = path.join(await makeTempDir('e2e-meta-'), 'meta.json');
    const cache = await makeTempDir('e2e-cli-cache-');
    const r = await runCli(['build', '--progress', 'quiet', '--push', '-t', `${reg.host}/cli:a`, '-t', `${reg.host}/cli:b`, '--metadata-file', meta, '--cache-dir', cache, ctx]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    const digest = JSON.parse(await readFile(meta, 'utf8'))['containerimage.digest'];
    for (const tag of ['a', 'b']) {
      expect((await skopeoInspect(`docker://${reg.host}/cli:${tag}`, ['--tls-verify=false'])).Digest).toBe(digest);
    }
    const tree = await listTree((await unpackLayout(await pullWithSkopeo(reg, `${reg.host}/cli:b`))).rootfs, { skip: ['bin'] });
    expect(tree['x']).toEqual(file('x'));
  });

  it('a missing base image is a clear error', async () => {
    await expect(buildImage({ files: {}, dockerfile: `FROM ${reg.host}/nope:1\n` })).rejects.toThrow(/nope/);
  });
});

describe('htpasswd registry', () => {
  it('credentials from DOCKER_CONFIG auths; without them the build fails with an auth error', async () => {
    const reg = await registry('htpasswd');
    await expect(buildImage({ files: {}, dockerfile: `FROM ${reg.host}/busybox\n` })).rejects.toThrow(/401|unauthori[sz]ed|credentials|authenticat/i);
    process.env.DOCKER_CONFIG = await dockerConfigFor(reg);
    await roundTrip(reg);
  });
});

describe('bearer-token registry', () => {
  it('credentials from DOCKER_CONFIG auths; the token server sees pull and push scopes', async () => {
    const reg = await registry('token');
    process.env.DOCKER_CONFIG = await dockerConfigFor(reg);
    reg.tokenRequests.length = 0;
    await roundTrip(reg);
    const scopes = reg.tokenRequests.flatMap((t) => t.scopes);
    expect(scopes).toContain('repository:busybox:pull');
    expect(scopes.some((s) => /^repository:app:.*push/.test(s))).toBe(true);
    expect(reg.tokenRequests.every((t) => t.account === undefined || t.account === reg.username)).toBe(true);
  });
});

