import { afterAll, describe, expect, it } from 'vitest';
import { startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';

const regs: TestRegistry[] = [];
afterAll(async () => {
  await Promise.all(regs.map((r) => r.stop()));
});

describe('test registry fixture', () => {
  it('open registry answers /v2/ with 200', async () => {
    const reg = await startRegistry();
    regs.push(reg);
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(200);
  });

  it('htpasswd registry demands basic auth and accepts the right password', async () => {
    const reg = await startRegistry({ auth: 'htpasswd' });
    regs.push(reg);
    const anon = await fetch(`${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="test-registry"/);
    const basic = 'Basic ' + Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    expect((await fetch(`${reg.url}/v2/`, { headers: { authorization: basic } })).status).toBe(200);
    const wrong = 'Basic ' + Buffer.from(`${reg.username}:nope`).toString('base64');
    expect((await fetch(`${reg.url}/v2/`, { headers: { authorization: wrong } })).status).toBe(401);
  });

  it('token registry accepts tokens from its token server', async () => {
    const reg = await startRegistry({ auth: 'token' });
    regs.push(reg);
    const anon = await fetch(`${reg.url}/v2/`);
    expect(anon.status).toBe(401);
    const challenge = anon.headers.get('www-authenticate')!;
    expect(challenge).toMatch(/^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="registry-\d+"/);
    const realm = /realm="([^"]+)"/.exec(challenge)![1]!;
    const service = /service="([^"]+)"/.exec(challenge)![1]!;
    const basic = 'Basic ' + Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    const tokRes = await fetch(`${realm}?service=${service}&scope=repository:x:pull,push`, { headers: { authorization: basic } });
    expect(tokRes.status).toBe(200);
    const { token } = (await tokRes.json()) as { token: string };
    const ok = await fetch(`${reg.url}/v2/`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    const tags = await fetch(`${reg.url}/v2/x/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    expect(tags.status).toBe(404); // authorized, but the repository does not exist
    expect(reg.tokenRequests).toEqual([{ account: reg.username, scopes: ['repository:x:pull,push'], status: 200 }]);
  });

  it('reports the registry stderr when it cannot start', async () => {
    const reg = await startRegistry();
    regs.push(reg);
    await expect(startRegistry({ port: reg.port })).rejects.toThrow(/docker-registry failed to start[\s\S]*address already in use/);
  });
});
