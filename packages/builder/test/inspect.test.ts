/**
 * `build-image inspect` over every place an image can be: an OCI layout directory, an OCI
 * archive, a docker archive and a registry, checked against skopeo (an independent reader).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildResult } from '../src/solve/build.js';
import { main, type CliIO } from '../src/cli/main.js';
import { inspectImage, type ImageInspection } from '../src/inspect/index.js';
import { makeBusyboxImage } from '../../../test/helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from '../../../test/helpers/registry.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';

const repo = path.resolve(__dirname, '../../..');
let dir: string;
let reg: TestRegistry;
let result: BuildResult;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {}, cwd: dir, readFile: async () => '' };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function skopeo(target: string, raw = false): Record<string, unknown> {
  return JSON.parse(execFileSync('skopeo', ['inspect', ...(raw ? ['--raw'] : []), '--tls-verify=false', target], { encoding: 'utf8' }));
}

beforeAll(async () => {
  dir = await makeTempDir('inspect-');
  reg = await startRegistry();
  await makeBusyboxImage({ layoutDir: path.join(dir, 'busybox') });
  result = await build({
    context: path.join(repo, 'examples/hello'),
    cacheDir: path.join(dir, 'cache'),
    tags: [`${reg.host}/hello:1`],
    buildContexts: [{ name: 'busybox', kind: 'oci-layout', dir: path.join(dir, 'busybox'), tag: 'latest' }],
    labels: { 'org.example.team': 'build' },
    outputs: [
      { type: 'oci', dest: path.join(dir, 'hello.tar'), tar: true, names: [], attrs: {} },
      { type: 'oci', dest: path.join(dir, 'layout'), tar: false, names: ['hello:1'], attrs: {} },
      { type: 'docker', dest: path.join(dir, 'hello-docker.tar'), tar: true, names: ['hello:1'], attrs: {} },
    ],
    push: true,
    sourceDateEpoch: 1704067200,
  } as Parameters<typeof build>[0]);
}, 180_000);

afterAll(async () => {
  await reg?.stop();
  await cleanupTempDirs();
});

function checkHello(info: ImageInspection): void {
  expect(info.configDigest).toBe(result.configDigest);
  expect(info.config.Env).toContain('GREETING=hello from build-image');
  expect(info.config.WorkingDir).toBe('/app');
  expect(info.config.Cmd).toEqual(['cat', '/app/greeting.txt']);
  expect(info.config.Labels).toEqual({ 'org.example.team': 'build' });
  // busybox's layer, WORKDIR /app, COPY, RUN: four layers, and the history has one row per layer plus the empty ones.
  expect(info.layers).toHaveLength(4);
  const withLayer = info.history.filter((h) => !h.emptyLayer);
  expect(withLayer.map((h) => h.layer)).toEqual(info.layers.map((l) => l.digest));
  expect(withLayer.map((h) => h.size)).toEqual(info.layers.map((l) => l.size));
  const byCmd = info.history.map((h) => h.createdBy ?? '');
  expect(byCmd).toContain('WORKDIR /app');
  expect(byCmd.some((c) => c.startsWith('COPY greeting.txt ./'))).toBe(true);
  expect(byCmd.some((c) => c.startsWith('RUN /bin/sh -c echo "built on $(uname -m)"'))).toBe(true);
  expect(info.history.find((h) => h.createdBy?.startsWith('ENV GREETING'))?.emptyLayer).toBe(true);
  expect(info.size).toBe(result.size);
}

describe('inspect', () => {
  it('an OCI archive: digest, config, history and layer sizes as skopeo reads them', async () => {
    const info = await inspectImage(path.join(dir, 'hello.tar'));
    expect(info.source).toBe(`oci-archive:${dir}/hello.tar`);
    expect(info.digest).toBe(result.digest);
    checkHello(info);
    const raw = skopeo(`oci-archive:${dir}/hello.tar`, true) as { layers: Array<{ digest: string; size: number }>; config: { size: number } };
    expect(info.layers.map((l) => [l.digest, l.size])).toEqual(raw.layers.map((l) => [l.digest, l.size]));
    expect(info.size).toBe(raw.layers.reduce((n, l) => n + l.size, 0) + raw.config.size);
  });
  it('an OCI layout directory, by path, by oci-layout://DIR:TAG', async () => {
    for (const t of [path.join(dir, 'layout'), `oci-layout://${dir}/layout:1`, 'layout']) {
      const info = await inspectImage(t, { cwd: dir });
      expect(info.digest, t).toBe(result.digest);
      checkHello(info);
    }
  });
  it('a docker archive (docker save format)', async () => {
    const info = await inspectImage(`docker-archive:${dir}/hello-docker.tar`);
    expect(info.source).toBe(`docker-archive:${dir}/hello-docker.tar`);
    expect(info.configDigest).toBe(result.configDigest);
    expect(info.layers).toHaveLength(4);
    expect(info.config.Cmd).toEqual(['cat', '/app/greeting.txt']);
    // Plain path: detected as a docker archive by its manifest.json.
    expect((await inspectImage(path.join(dir, 'hello-docker.tar'))).configDigest).toBe(result.configDigest);
  });
  it('a registry reference, through the CLI: text and --json', async () => {
    const json = await cli(['inspect', '--json', `${reg.host}/hello:1`]);
    expect(json.code, json.stderr).toBe(0);
    const info = JSON.parse(json.stdout) as ImageInspection;
    expect(info.source).toBe(`docker://${reg.host}/hello:1`);
    expect(info.digest).toBe(result.digest);
    checkHello(info);
    const sk = skopeo(`docker://${reg.host}/hello:1`) as { Digest: string; Layers: string[]; Env: string[] };
    expect(sk.Digest).toBe(info.digest);
    expect(sk.Layers).toEqual(info.layers.map((l) => l.digest));
    const text = await cli(['inspect', `${reg.host}/hello:1`]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Digest      ${result.digest}\n`);
    expect(text.stdout).toContain(`Config      ${result.configDigest}\n`);
    expect(text.stdout).toContain('Cmd         ["cat","/app/greeting.txt"]\n');
    expect(text.stdout).toContain('Labels      org.example.team=build\n');
    expect(text.stdout).toMatch(/History \(newest first\):\nLAYER +CREATED +CREATED BY +SIZE +COMMENT\n/);
    const rows = text.stdout.split('History (newest first):\n')[1]!.trimEnd().split('\n').slice(1);
    expect(rows[0]).toMatch(/^<missing> +2024-01-01T00:00:00Z +CMD \["cat" "\/app\/greeting.txt"\] +0B +buildkit\.dockerfile\.v0$/);
    expect(rows.some((r) => r.startsWith(info.layers[3]!.digest.slice(7, 19)) && r.includes('RUN /bin/sh -c echo'))).toBe(true);
  });
  it('errors: missing image, not an archive', async () => {
    const missing = await cli(['inspect', `${reg.host}/nope:1`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found|unknown/i);
    const notTar = await cli(['inspect', path.join(repo, 'examples/hello/Dockerfile')]);
    expect(notTar.code).toBe(1);
    expect(notTar.stderr).toContain('is not a readable tar archive');
    const usage = await cli(['inspect']);
    expect(usage.code).toBe(2);
  });
});
