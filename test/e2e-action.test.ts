/**
 * The GitHub Action end to end: the committed bundle (action/dist/index.js, what runners execute)
 * run with the environment a runner sets (INPUT_* with hyphens kept, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY), building examples/hello on the busybox layout and pushing it to a
 * loopback registry; outputs checked against skopeo. Input list parsing is tested in-process.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBooleanInput, getInputList, getList } from '../action/src/inputs.js';
import { makeBusyboxImage } from './helpers/busybox-image.js';
import { unpack } from './helpers/e2e-run.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { cleanupTempDirs, makeTempDir } from './helpers/tmp.js';

const repo = path.resolve(__dirname, '..');
const bundle = path.join(repo, 'action/dist/index.js');

describe('action inputs (build-push-action conventions)', () => {
  it('lists: newlines and commas, CSV quotes, # comment lines, trimming, empty items dropped', () => {
    expect(getList('')).toEqual([]);
    expect(getList('a,b\nc\n\n d ,')).toEqual(['a', 'b', 'c', 'd']);
    expect(getList('user/app:latest\n# user/app:old\nuser/app:1')).toEqual(['user/app:latest', 'user/app:1']);
    expect(getList('A=1\nB="x,y"\nCOLOR=#fff', { ignoreComma: true })).toEqual(['A=1', 'B="x,y"', 'COLOR=#fff']);
    expect(getList('"B=x,y"\nC=2', { ignoreComma: true })).toEqual(['B=x,y', 'C=2']);
    expect(getList('"MULTI=line1\nline2"', { ignoreComma: true })).toEqual(['MULTI=line1\nline2']);
    expect(getList('type=registry,ref=r/cache,mode=max', { ignoreComma: true })).toEqual(['type=registry,ref=r/cache,mode=max']);
    expect(getList('type=local,dest="a b"', { ignoreComma: true, quote: false })).toEqual(['type=local,dest="a b"']);
  });
  it('reads INPUT_ variables as runners name them (upper case, hyphens kept)', () => {
    const env = { 'INPUT_BUILD-ARGS': 'A=1\nB=2', INPUT_PUSH: 'True', 'INPUT_NO-CACHE': '', INPUT_LOAD: 'yes' };
    expect(getInputList(env, 'build-args', { ignoreComma: true })).toEqual(['A=1', 'B=2']);
    expect(getBooleanInput(env, 'push')).toBe(true);
    expect(getBooleanInput(env, 'no-cache')).toBe(false);
    expect(() => getBooleanInput(env, 'load')).toThrow('Input "load" is "yes": use true or false');
  });
});

describe('action bundle end to end', () => {
  let dir: string;
  let reg: TestRegistry;
  let layout: string;

  beforeAll(async () => {
    dir = await makeTempDir('e2e-action-');
    reg = await startRegistry();
    layout = path.join(dir, 'busybox');
    await makeBusyboxImage({ layoutDir: layout });
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
    await cleanupTempDirs();
  });

  /** Runs the bundle like a runner: a fresh GITHUB_OUTPUT and step summary per run. */
  function runAction(name: string, inputs: Record<string, string>, extraEnv: Record<string, string> = {}) {
    const output = path.join(dir, `${name}.output`);
    const summary = path.join(dir, `${name}.summary.md`);
    writeFileSync(output, '');
    writeFileSync(summary, '');
    const env: Record<string, string> = {
      PATH: process.env.PATH!,
      HOME: process.env.HOME ?? '/root',
      GITHUB_WORKSPACE: repo,
      GITHUB_OUTPUT: output,
      GITHUB_STEP_SUMMARY: summary,
      RUNNER_TEMP: dir,
      BUILD_IMAGE_CACHE_DIR: path.join(dir, 'cache'),
      ...extraEnv,
    };
    for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
    const r = spawnSync(process.execPath, [bundle], { cwd: repo, env, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, log: r.stdout + r.stderr, outputs: parseOutputFile(readFileSync(output, 'utf8')), summary: readFileSync(summary, 'utf8') };
  }

  it('builds examples/hello, pushes it, sets imageid/digest/metadata via GITHUB_OUTPUT heredocs and writes the job summary', () => {
    const ref = `${reg.host}/hello:1`;
    const r = runAction('first', {
      context: 'examples/hello',
      tags: `${ref}\n# ${reg.host}/hello:commented-out\n${reg.host}/hello:latest`,
      'build-contexts': `busybox=oci-layout://${layout}:latest`,
      'build-args': 'UNUSED=1,2',
      labels: 'org.opencontainers.image.source=https://example.com/repo\n"org.example.csv=a,b"',
      push: 'true',
      provenance: 'mode=max',
      'no-cache': 'false',
    });
    expect(r.status, r.log).toBe(0);
    expect(r.log).toContain('::notice::Input "provenance" (mode=max) is ignored');
    expect(r.log).toMatch(/#\d+ \[base \d\/\d\] RUN echo/);
    const sk = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Digest: string; Labels: Record<string, string> };
    expect(r.outputs.digest).toBe(sk.Digest);
    expect(sk.Labels).toMatchObject({ 'org.opencontainers.image.source': 'https://example.com/repo', 'org.example.csv': 'a,b' });
    const latest = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/hello:latest`], { encoding: 'utf8' })) as { Digest: string };
    expect(latest.Digest).toBe(sk.Digest);
    const rawConfig = execFileSync('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`]);
    expect(r.outputs.imageid).toBe(`sha256:${createHash('sha256').update(rawConfig).digest('hex')}`);
    const metadata = JSON.parse(r.outputs.metadata!) as Record<string, unknown>;
    expect(metadata['containerimage.digest']).toBe(sk.Digest);
    expect(metadata['containerimage.config.digest']).toBe(r.outputs.imageid);
    expect(metadata['image.name']).toBe(`${ref},${reg.host}/hello:latest`);
    expect((metadata['containerimage.descriptor'] as { digest: string }).digest).toBe(sk.Digest);
    const report = JSON.parse(r.outputs['cache-report']!) as { run: number; cached: number; misses: Array<{ step: string; reasons: string[] }> };
    expect(report).toMatchObject({ run: 3, cached: 0 });
    expect(report.misses.map((m) => m.step)).toEqual(['WORKDIR /app', 'COPY greeting.txt ./', 'RUN echo "built on $(uname -m)" > /app/built.txt && chmod 0644 /app/built.txt']);
    expect(r.summary).toContain(`### build-image: \`${ref}, ${reg.host}/hello:latest\``);
    expect(r.summary).toContain(`| Digest | \`${sk.Digest}\` |`);
    expect(r.summary).toContain('| Steps | 3 run, 0 cached |');
    expect(r.summary).toContain('#### Cache misses');
    expect(r.summary).toContain('| `COPY greeting.txt ./` | not built before |');
  });

  it('a second run is all cached, and the summary says so', () => {
    const r = runAction('second', { context: 'examples/hello', tags: `${reg.host}/hello:1`, 'build-contexts': `busybox=oci-layout://${layout}:latest`, push: 'true' });
    expect(r.status, r.log).toBe(0);
    expect(JSON.parse(r.outputs['cache-report']!)).toEqual({ run: 0, cached: 3, misses: [] });
    expect(r.summary).toContain('| Steps | 0 run, 3 cached |');
    expect(r.summary).toContain('Every step came from the cache.');
  });

  it('cache-to / cache-from go to the remote cache: a cold cache dir builds nothing after importing', () => {
    const cacheRef = `${reg.host}/hello-cache:buildcache`;
    const exported = runAction('export', {
      context: 'examples/hello',
      'build-contexts': `busybox=oci-layout://${layout}:latest`,
      'cache-to': `type=registry,ref=${cacheRef},mode=max`,
    });
    expect(exported.status, exported.log).toBe(0);
    execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRef}`]);
    const imported = runAction(
      'import',
      { context: 'examples/hello', 'build-contexts': `busybox=oci-layout://${layout}:latest`, 'cache-from': `type=registry,ref=${cacheRef}` },
      { BUILD_IMAGE_CACHE_DIR: path.join(dir, 'cold-cache') },
    );
    expect(imported.status, imported.log).toBe(0);
    expect(JSON.parse(imported.outputs['cache-report']!)).toMatchObject({ run: 0, cached: 3 });
  });

  it('passes add-hosts, ulimit and shm-size to every RUN', async () => {
    const ctx = path.join(dir, 'run-opts');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(path.join(ctx, 'Dockerfile'), "FROM busybox\nRUN grep -v localhost /etc/hosts > /hosts; ulimit -n > /nofile; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\n");
    const out = path.join(dir, 'run-opts-out');
    const r = runAction('run-opts', {
      context: ctx,
      'build-contexts': `busybox=oci-layout://${layout}:latest`,
      'add-hosts': 'db:10.0.0.5,cache=10.0.0.6',
      ulimit: 'nofile=1000:2000',
      'shm-size': '32m',
      tags: 'run-opts:latest',
      outputs: `type=oci,dest=${out},tar=false`,
    });
    expect(r.status, r.log).toBe(0);
    const root = path.join(await unpack(out), 'rootfs');
    expect(readFileSync(path.join(root, 'hosts'), 'utf8')).toBe('10.0.0.5\tdb\n10.0.0.6\tcache\n');
    expect(readFileSync(path.join(root, 'nofile'), 'utf8')).toBe('1000\n');
    expect(readFileSync(path.join(root, 'shm'), 'utf8')).toBe('32768\n');
  });

  it('fails clearly: several platforms, an unsupported input, a failing build; ::error:: and exit 1', () => {
    const multi = runAction('multi', { context: 'examples/hello', platforms: 'linux/amd64,linux/arm64' });
    expect(multi.status).toBe(1);
    expect(multi.log).toContain('::error::Input "platforms" lists 2 platforms (linux/amd64, linux/arm64)');
    expect(multi.outputs).toEqual({});
    const unsupported = runAction('unsupported', { context: 'examples/hello', 'cgroup-parent': 'ci.slice' });
    expect(unsupported.status).toBe(1);
    expect(unsupported.log).toContain('::error::Input "cgroup-parent" is not supported by build-image');
    const missingBase = runAction('nobase', { context: 'examples/hello', 'build-contexts': `busybox=oci-layout://${dir}/nope:latest` });
    expect(missingBase.status).toBe(1);
    expect(missingBase.log).toMatch(/::error::.*nope/);
    expect(missingBase.summary).toContain('### build-image failed');
  });
});

/** Parses `$GITHUB_OUTPUT` as the runner does: `name=value` lines and `name<<DELIM ... DELIM` heredocs. */
function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = line.match(/^([^=<]+)<<(.+)$/);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`unterminated heredoc for ${name}`);
      out[name!] = value.join('\n');
    } else if (line.includes('=')) out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
  }
  return out;
}
