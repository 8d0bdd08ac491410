import { ContentStore } from '@build-image/cache';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBusyboxImage, type BusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { CredentialsError, DockerConfigCredentialStore, DOCKER_HUB_CONFIG_KEY } from '../src/auth/index.js';
import { RegistryClient } from '../src/registry/index.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const stops: TestRegistry[] = [];
afterAll(async () => {
  await Promise.all(stops.map((s) => s.stop()));
  await cleanupTempDirs();
});

async function configDir(config: unknown): Promise<string> {
  const dir = await makeTempDir('bi-docker-config-');
  await writeFile(path.join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

/** Writes `docker-credential-test` into a fresh PATH dir: answers from a fixed table, logs its stdin. */
async function helperPath(table: Record<string, { Username: string; Secret: string }>, opts: { fail?: string } = {}): Promise<{ pathDir: string; log: string }> {
  const pathDir = await makeTempDir('bi-path-');
  const log = path.join(pathDir, 'requests.log');
  const script = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported action $1" >&2; exit 1; }
read -r server || true
echo "$server" >> ${JSON.stringify(log)}
${opts.fail ? `echo ${JSON.stringify(opts.fail)} >&2; exit 1` : ''}
case "$server" in
${Object.entries(table)
  .map(([k, v]) => `  ${JSON.stringify(k)}) printf '%s' ${JSON.stringify(JSON.stringify({ ServerURL: k, ...v }))} ;;`)
  .join('\n')}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  await writeFile(path.join(pathDir, 'docker-credential-test'), script, { mode: 0o755 });
  return { pathDir, log };
}

describe('DockerConfigCredentialStore: config.json', () => {
  it('reads base64 auth, username/password and identity tokens; Docker Hub under its v1 URL', async () => {
    const dir = await configDir({
      auths: {
        [DOCKER_HUB_CONFIG_KEY]: { auth: b64('hubuser:hub:pass') },
        'reg.example.com': { username: 'u', password: 'p' },
        'https://legacy.example.com/v1/': { auth: b64('l:pw') },
        'tok.example.com': { identitytoken: 'refresh-me' },
      },
    });
    const store = new DockerConfigCredentialStore({ configDir: dir, env: {} });
    expect(await store.get('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(await store.get('reg.example.com')).toEqual({ username: 'u', password: 'p' });
    expect(await store.get('legacy.example.com')).toEqual({ username: 'l', password: 'pw' });
    expect(await store.get('tok.example.com')).toEqual({ identityToken: 'refresh-me' });
    expect(await store.get('other.example.com')).toBeUndefined();
  });

  it('finds config.json through $DOCKER_CONFIG, and treats a missing file as anonymous', async () => {
    const dir = await configDir({ auths: { 'r.example': { auth: b64('a:b') } } });
    expect(await new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: dir } }).get('r.example')).toEqual({ username: 'a', password: 'b' });
    const empty = await makeTempDir('bi-empty-');
    expect(await new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: empty } }).get('r.example')).toBeUndefined();
    expect(new DockerConfigCredentialStore({ env: { HOME: '/home/x' } }).configFile).toBe('/home/x/.docker/config.json');
  });

  it('reports broken JSON and broken auth entries with the file name', async () => {
    const bad = await configDir('{ nope');
    const e = (await new DockerConfigCredentialStore({ configDir: bad }).get('x').catch((x) => x)) as CredentialsError;
    expect(e).toBeInstanceOf(CredentialsError);
    expect(e.code).toBe('E_CREDENTIALS');
    expect(e.message).toContain(`${bad}/config.json is not valid JSON`);
    const noColon = await configDir({ auths: { x: { auth: b64('nocolon') } } });
    await expect(new DockerConfigCredentialStore({ configDir: noColon }).get('x')).rejects.toThrow(/not base64 of "user:password": run docker login x again/);
  });
});

describe('DockerConfigCredentialStore: credential helpers', () => {
  it('asks credHelpers[registry] with the server URL on stdin', async () => {
    const { pathDir, log } = await helperPath({ 'reg.example.com': { Username: 'helper-user', Secret: 's3cret' }, [DOCKER_HUB_CONFIG_KEY]: { Username: '<token>', Secret: 'refresh' } });
    const dir = await configDir({ credHelpers: { 'reg.example.com': 'test', [DOCKER_HUB_CONFIG_KEY]: 'test' }, auths: { 'reg.example.com': { auth: b64('ignored:x') } } });
    const store = new DockerConfigCredentialStore({ configDir: dir, env: { PATH: `${pathDir}:/usr/bin:/bin` } });
    expect(await store.get('reg.example.com')).toEqual({ username: 'helper-user', password: 's3cret' });
    expect(await store.get('docker.io')).toEqual({ identityToken: 'refresh' });
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(log, 'utf8')).split('\n').filter(Boolean)).toEqual(['reg.example.com', DOCKER_HUB_CONFIG_KEY]);
  });

  it('uses credsStore for every registry, falling back to auths when it has nothing', async () => {
    const { pathDir } = await helperPath({ 'a.example': { Username: 'ua', Secret: 'pa' } });
    const dir = await configDir({ credsStore: 'test', auths: { 'b.example': { auth: b64('ub:pb') } } });
    const store = new DockerConfigCredentialStore({ configDir: dir, env: { PATH: `${pathDir}:/usr/bin:/bin` } });
    expect(await store.get('a.example')).toEqual({ username: 'ua', password: 'pa' });
    expect(await store.get('b.example')).toEqual({ username: 'ub', password: 'pb' });
    expect(await store.get('c.example')).toBeUndefined();
  });

  it('names a missing or failing helper', async () => {
    const dir = await configDir({ credHelpers: { 'x.example': 'absent' } });
    const e = (await new DockerConfigCredentialStore({ configDir: dir, env: { PATH: '/nonexistent' } }).get('x.example').catch((x) => x)) as CredentialsError;
    expect(e.code).toBe('E_CREDENTIALS');
    expect(e.message).toBe(`credential helper for x.example failed: docker-credential-absent is not on PATH: install it or remove "absent" from ${dir}/config.json`);
    const { pathDir } = await helperPath({}, { fail: 'keychain locked' });
    const dir2 = await configDir({ credHelpers: { 'x.example': 'test' } });
    await expect(new DockerConfigCredentialStore({ configDir: dir2, env: { PATH: `${pathDir}:/usr/bin:/bin` } }).get('x.example')).rejects.toThrow(
      'credential helper docker-credential-test failed for x.example (exit 1): keychain locked',
    );
  });
});

describe('registry client with docker config credentials', () => {
  let basicReg: TestRegistry;
  let tokenReg: TestRegistry;
  let busybox: BusyboxImage;
  beforeAll(async () => {
    [basicReg, tokenReg] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
    stops.push(basicReg, tokenReg);
    busybox = await makeBusyboxImage({ registry: basicReg });
    await makeBusyboxImage({ registry: tokenReg });
  });

  it('pulls with auths credentials (basic) from a temp DOCKER_CONFIG', async () => {
    const dir = await configDir({ auths: { [basicReg.host]: { auth: b64(`${basicReg.username}:${basicReg.password}`) } } });
    const client = new RegistryClient({ auth: new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: dir } }) });
    const store = new ContentStore({ root: await makeTempDir('bi-store-') });
    const img = await client.pullImage(`${basicReg.host}/busybox:1`, 'linux/amd64', store);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
  });

  it('pulls and pushes with a credHelpers helper (bearer token flow)', async () => {
    const { pathDir } = await helperPath({ [tokenReg.host]: { Username: tokenReg.username!, Secret: tokenReg.password! } });
    const dir = await configDir({ credHelpers: { [tokenReg.host]: 'test' } });
    const client = new RegistryClient({ auth: new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: dir, PATH: `${pathDir}:/usr/bin:/bin` } }) });
    const store = new ContentStore({ root: await makeTempDir('bi-store-') });
    tokenReg.tokenRequests.length = 0;
    const img = await client.pullImage(`${tokenReg.host}/busybox`, 'linux/amd64', store);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    const pushed = await client.pushImage(`${tokenReg.host}/copied:1`, { manifest: img.manifestBytes }, store);
    expect(pushed.digest).toBe(busybox.manifestDigest);
    expect(tokenReg.tokenRequests.every((t) => t.account === tokenReg.username && t.status === 200)).toBe(true);
    // One token per scope set, reused: pull scope once, push scope for the new repository.
    const scopes = tokenReg.tokenRequests.map((t) => t.scopes.join(' '));
    expect(scopes.filter((s) => s === 'repository:busybox:pull')).toHaveLength(1);
    expect(scopes).toContain('repository:copied:pull,push');
  });

  it('exchanges an identity token (OAuth2 refresh token) for registry tokens', async () => {
    const dir = await configDir({ auths: { [tokenReg.host]: { identitytoken: 'test-refresh-token' } } });
    const client = new RegistryClient({ auth: new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: dir } }) });
    tokenReg.tokenRequests.length = 0;
    const img = await client.resolve(`${tokenReg.host}/busybox`);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(tokenReg.tokenRequests).toEqual([{ account: tokenReg.username, scopes: ['repository:busybox:pull'], status: 200 }]);
    const wrong = await configDir({ auths: { [tokenReg.host]: { identitytoken: 'stale' } } });
    const e = await new RegistryClient({ auth: new DockerConfigCredentialStore({ env: { DOCKER_CONFIG: wrong } }) }).resolve(`${tokenReg.host}/busybox`).catch((x) => x);
    expect(e.message).toMatch(/^authentication failed for 127\.0\.0\.1:\d+\/busybox:latest: the token server rejected the credentials/);
  });

  it('pulls anonymously from a token registry that allows anonymous pull', async () => {
    const anon = await startRegistry({ auth: 'token', anonymousPull: true });
    stops.push(anon);
    await makeBusyboxImage({ registry: anon });
    const img = await new RegistryClient().resolve(`${anon.host}/busybox`);
    expect(img.manifestDigest).toBe(busybox.manifestDigest);
    expect(anon.tokenRequests.at(-1)).toMatchObject({ account: undefined, status: 200 });
  });
});
