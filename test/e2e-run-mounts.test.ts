/**
 * Every `RUN --mount` type in real containers: cache (kept between builds, never in a layer,
 * sharing=locked), bind (context with .dockerignore, from a stage, rw writes discarded), tmpfs,
 * secret (file and env sources, env= exposure, required) with the value absent from every blob,
 * the history and the progress output, and ssh with a socket served by the test.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addedLayers, allBlobTexts, e2eBuild, readConfig, runBundle, SNAPSHOTTERS, unpack, type E2EBuild, type LayerEntry } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const DOCKERFILE = `FROM busybox AS helper
RUN mkdir /stuff && echo from-stage > /stuff/s.txt

FROM busybox AS lock1
RUN --mount=type=cache,target=/c,id=lk,sharing=locked sh -c 'if [ -e /c/busy ]; then touch /c/overlap; fi; touch /c/busy; sleep 0.3; rm /c/busy; echo 1 > /l1'

FROM busybox AS lock2
RUN --mount=type=cache,target=/c,id=lk,sharing=locked sh -c 'if [ -e /c/busy ]; then touch /c/overlap; fi; touch /c/busy; sleep 0.3; rm /c/busy; echo 2 > /l2'

FROM busybox
ARG ROUND
COPY --from=lock1 /l1 /l1
COPY --from=lock2 /l2 /l2
RUN --mount=type=cache,target=/cache,id=c1 sh -c 'mkdir -p /out; cat /cache/seen > /out/prev 2>/dev/null || echo none > /out/prev; echo "round $ROUND" > /cache/seen; echo big > /cache/blob'
RUN --mount=type=cache,target=/c,id=lk sh -c 'test ! -e /c/overlap && echo no-overlap > /out/locked'
RUN --mount=type=bind,target=/ctx sh -c 'ls -A /ctx | tr "\\n" " " > /out/ctx-list; cat /ctx/a.txt > /out/ctx-a'
RUN --mount=type=bind,from=helper,source=/stuff,target=/s cat /s/s.txt > /out/from-stage
RUN --mount=type=bind,target=/ctx,rw sh -c 'echo changed > /ctx/a.txt && echo new > /ctx/new.txt && cat /ctx/a.txt > /out/rw-saw'
RUN --mount=type=bind,target=/ctx sh -c 'cat /ctx/a.txt > /out/rw-after; test ! -e /ctx/new.txt'
RUN --mount=type=tmpfs,target=/scratch sh -c 'echo t > /scratch/t && grep " /scratch " /proc/mounts | cut -d" " -f3 > /out/tmpfs-type'
RUN --mount=type=secret,id=tok sh -c 'sha256sum /run/secrets/tok | cut -c1-64 > /out/secret-sum; stat -c "%a %u" /run/secrets/tok > /out/secret-stat'
RUN --mount=type=secret,id=envtok,env=MY_TOKEN sh -c 'printf %s "$MY_TOKEN" | sha256sum | cut -c1-64 > /out/secret-env-sum'
RUN --mount=type=secret,id=absent sh -c 'test ! -e /run/secrets/absent && echo skipped > /out/secret-absent'
RUN --mount=type=ssh sh -c 'test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /out/ssh'
RUN --mount=type=ssh,id=other,target=/agent.sock sh -c 'test -S /agent.sock && echo "$SSH_AUTH_SOCK" > /out/ssh-other'
RUN sh -c 'echo "MY_TOKEN=[$MY_TOKEN]" > /out/after-env'
CMD ["sh", "-c", "cat /out/prev /out/locked /out/from-stage /out/tmpfs-type /out/after-env"]
`;

describe.each(SNAPSHOTTERS)('RUN --mount (%s snapshotter)', (snapshotter) => {
  const fileSecret = `file-secret-${randomBytes(12).toString('hex')}`;
  const envSecret = `env-secret-${randomBytes(12).toString('hex')}`;
  let cacheDir: string;
  let contextDir: string;
  let sockets: net.Server[] = [];
  let first: E2EBuild;
  let second: E2EBuild;
  let layers: LayerEntry[][];
  let rootfs: string;
  let bundle: string;

  const listen = async (p: string) => {
    const server = net.createServer((c) => c.end());
    await new Promise<void>((resolve) => server.listen(p, resolve));
    sockets.push(server);
    return p;
  };

  beforeAll(async () => {
    cacheDir = await makeTempDir('e2e-cache-');
    contextDir = await makeTempDir('e2e-ctx-');
    await writeTree(contextDir, { Dockerfile: DOCKERFILE, 'a.txt': 'ctx-a\n', 'ignored.txt': 'nope\n', '.dockerignore': 'ignored.txt\n' });
    const secretFile = path.join(await makeTempDir('e2e-secret-'), 'tok');
    await writeTree(path.dirname(secretFile), { tok: fileSecret });
    const sockDir = await makeTempDir('e2e-ssh-');
    process.env.E2E_RUN_SECRET = envSecret;
    const common = {
      dockerfile: DOCKERFILE,
      contextDir,
      snapshotter,
      cacheDir,
      secrets: { tok: { file: secretFile }, envtok: { env: 'E2E_RUN_SECRET' } },
      ssh: { default: await listen(path.join(sockDir, 'agent')), other: await listen(path.join(sockDir, 'other')) },
    };
    first = await e2eBuild({ ...common, buildArgs: { ROUND: '1' } });
    second = await e2eBuild({ ...common, buildArgs: { ROUND: '2' } });
    layers = await addedLayers(second.layout);
    bundle = await unpack(second.layout);
    rootfs = path.join(bundle, 'rootfs');
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    sockets = [];
    delete process.env.E2E_RUN_SECRET;
  });
  const out = (name: string) => readFile(path.join(rootfs, 'out', name), 'utf8');
  const allNames = () => layers.flat().map((e) => e.name);

  it('keeps a cache mount between builds and out of every layer', async () => {
    expect(await out('prev')).toBe('round 1\n');
    const firstRoot = path.join(await unpack(first.layout), 'rootfs');
    expect(await readFile(path.join(firstRoot, 'out/prev'), 'utf8')).toBe('none\n');
    expect(allNames().filter((n) => n === 'cache' || n.startsWith('cache/'))).toEqual([]);
    expect(allNames().filter((n) => n === 'c' || n.startsWith('c/'))).toEqual([]);
  });

  it('serializes sharing=locked users of one cache', async () => {
    expect(await out('locked')).toBe('no-overlap\n');
  });

  it('binds the context without .dockerignored files, and a stage', async () => {
    const list = (await out('ctx-list')).split(' ').filter(Boolean);
    expect(list).toContain('a.txt');
    expect(list).not.toContain('ignored.txt');
    expect(await out('ctx-a')).toBe('ctx-a\n');
    expect(await out('from-stage')).toBe('from-stage\n');
  });

  it('discards writes to a rw bind mount (the next RUN and the context do not see them)', async () => {
    expect(await out('rw-saw')).toBe('changed\n');
    expect(await out('rw-after')).toBe('ctx-a\n');
    expect(await readFile(path.join(contextDir, 'a.txt'), 'utf8')).toBe('ctx-a\n');
    expect(allNames().filter((n) => n === 'ctx' || n.startsWith('ctx/') || n.startsWith('s/') || n === 's')).toEqual([]);
  });

  it('mounts a tmpfs whose content is not in the layer', async () => {
    expect(await out('tmpfs-type')).toBe('tmpfs\n');
    expect(allNames().filter((n) => n.startsWith('scratch'))).toEqual([]);
  });

  it('exposes secrets as files (0400 root) and as env=, and skips a missing optional one', async () => {
    expect(await out('secret-sum')).toBe(sha(fileSecret) + '\n');
    expect(await out('secret-stat')).toBe('400 0\n');
    expect(await out('secret-env-sum')).toBe(sha(envSecret) + '\n');
    expect(await out('secret-absent')).toBe('skipped\n');
    // The env= variable exists only during its RUN.
    expect(await out('after-env')).toBe('MY_TOKEN=[]\n');
    expect(allNames().filter((n) => n === 'run/secrets' || n.startsWith('run/secrets/'))).toEqual([]);
  });

  it('keeps secret values out of every blob, the config, the history and the progress output', async () => {
    for (const b of [first, second]) {
      for (const blob of await allBlobTexts(b.layout)) {
        expect(blob.bytes.includes(fileSecret), `file secret in ${blob.digest}`).toBe(false);
        expect(blob.bytes.includes(envSecret), `env secret in ${blob.digest}`).toBe(false);
      }
      const { text } = await readConfig(b.layout);
      expect(text).not.toContain(envSecret);
      const progress = JSON.stringify(b.events);
      expect(progress).not.toContain(fileSecret);
      expect(progress).not.toContain(envSecret);
      expect(JSON.stringify(b.result)).not.toContain(envSecret);
    }
  });

  it('exposes ssh agent sockets at the default and at a given target', async () => {
    expect(await out('ssh')).toBe('/run/buildkit/ssh_agent.0\n');
    expect(await out('ssh-other')).toBe('/agent.sock\n');
    expect(allNames().filter((n) => n.startsWith('run/buildkit') || n === 'agent.sock')).toEqual([]);
  });

  it('runs from the unpacked bundle', async () => {
    const r = await runBundle(bundle);
    expect(r.stdout).toBe('round 1\nno-overlap\nfrom-stage\ntmpfs\nMY_TOKEN=[]\n');
  });
});

describe('required secrets', () => {
  it('fails a RUN whose required secret is missing, naming the id and how to pass it', async () => {
    const err = await e2eBuild({
      dockerfile: 'FROM busybox\nRUN --mount=type=secret,id=needed,required=true cat /run/secrets/needed\n',
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_SECRET_MISSING' });
    expect((err as Error).message).toContain('needed');
    expect((err as Error).message).toContain('--secret id=needed');
  });
});

describe('mount options and targets', () => {
  let b: E2EBuild;
  let root: string;
  let names: string[];

  beforeAll(async () => {
    b = await e2eBuild({
      dockerfile: `FROM busybox AS seed
RUN mkdir /seed && echo seeded > /seed/s

FROM busybox
RUN --mount=type=cache,target=/c1,uid=1000,gid=1000,mode=0700 sh -c 'mkdir /out; stat -c "%a %u %g" /c1 > /out/cache-stat'
RUN --mount=type=cache,target=/c2,from=seed,source=/seed sh -c 'cat /c2/s > /out/cache-seeded'
RUN --mount=type=cache,target=/c3,ro sh -c 'touch /c3/x 2>/dev/null && echo writable > /out/cache-ro || echo read-only > /out/cache-ro'
RUN --mount=type=bind,from=busybox,source=/etc/passwd,target=/deep/er/img-passwd sh -c 'head -1 /deep/er/img-passwd > /out/bind-image'
RUN --mount=type=secret,id=tok,target=/etc/custom/tok,mode=0444,uid=1000 sh -c 'stat -c "%a %u" /etc/custom/tok > /out/secret-custom; cat /etc/custom/tok > /dev/null'
RUN --mount=type=tmpfs,target=/small,size=1m sh -c 'if head -c 2097152 /dev/zero > /small/big 2>/dev/null; then echo unlimited; else echo limited; fi > /out/tmpfs-size'
USER app
RUN --mount=type=cache,target=/home/app/c4 sh -c 'touch /home/app/c4/x 2>/dev/null && echo app-writes > /tmp/cache-user || echo root-owned > /tmp/cache-user'
`,
      files: { 'a.txt': 'single file\n' },
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
      secrets: { tok: { file: await (async () => { const d = await makeTempDir('e2e-secret-'); await writeTree(d, { tok: 'custom-target-secret' }); return path.join(d, 'tok'); })() } },
    });
    names = (await addedLayers(b.layout)).flat().map((e) => e.name);
    root = path.join(await unpack(b.layout), 'rootfs');
  });
  const out = (name: string) => readFile(path.join(root, 'out', name), 'utf8');

  it('creates a cache dir with the given uid, gid and mode', async () => {
    expect(await out('cache-stat')).toBe('700 1000 1000\n');
  });

  it('seeds a cache mount from a stage (from=, source=)', async () => {
    expect(await out('cache-seeded')).toBe('seeded\n');
  });

  it('mounts a ro cache read-only', async () => {
    expect(await out('cache-ro')).toBe('read-only\n');
  });

  it('binds a file from an image below missing parents that do not reach the layer', async () => {
    expect(await out('bind-image')).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect(names.filter((n) => n === 'deep' || n.startsWith('deep/'))).toEqual([]);
  });

  // Known bug (solve/source-roots.ts, not owned here): a context *file* is materialized into a
  // directory, so the target becomes a directory holding the file. BuildKit mounts the file itself.
  // Flip to it() when SourceRoots.materialize returns the file for a file source.
  it('binds a single context file at the target (source=a.txt)', async () => {
    const one = await e2eBuild({
      dockerfile: "FROM busybox\nRUN --mount=type=bind,source=a.txt,target=/a.txt sh -c 'cat /a.txt > /bind-file'\n",
      files: { 'a.txt': 'single file\n' },
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
    });
    const r = path.join(await unpack(one.layout), 'rootfs');
    expect(await readFile(path.join(r, 'bind-file'), 'utf8')).toBe('single file\n');
  });

  it('mounts a secret at a custom target with its mode and owner, leaving no stub', async () => {
    expect(await out('secret-custom')).toBe('444 1000\n');
    expect(names.filter((n) => n.startsWith('etc/custom'))).toEqual([]);
  });

  it('limits a tmpfs to its size', async () => {
    expect(await out('tmpfs-size')).toBe('limited\n');
  });

  it('creates a cache dir owned by root (0755) even for a non-root USER, as BuildKit does', async () => {
    expect(await readFile(path.join(root, 'tmp/cache-user'), 'utf8')).toBe('root-owned\n');
    expect(names.filter((n) => n.startsWith('home/app/c4'))).toEqual([]);
  });

  it('leaves no cache mount target in the layers', () => {
    expect(names.filter((n) => /^c[1-3]($|\/)/.test(n))).toEqual([]);
  });
});

describe('secrets and ssh through the CLI', () => {
  it('passes --secret id=…,env=… and --ssh default=SOCKET to RUN, and env= secrets get no file', async () => {
    const { main } = await import('../packages/builder/src/cli/main.js');
    const { busyboxLayout } = await import('./helpers/e2e-run.js');
    const ctx = await makeTempDir('e2e-ctx-');
    const out = path.join(await makeTempDir('e2e-out-'), 'layout');
    const sock = path.join(await makeTempDir('e2e-ssh-'), 'agent');
    const server = net.createServer((c) => c.end());
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    const value = `cli-secret-${randomBytes(8).toString('hex')}`;
    await writeTree(ctx, {
      Dockerfile: `FROM busybox
RUN --mount=type=secret,id=e,env=E sh -c 'printf %s "$E" | sha256sum | cut -c1-64 > /sum; test ! -e /run/secrets/e && echo no-file > /nofile'
RUN --mount=type=ssh sh -c 'test -S "$SSH_AUTH_SOCK" && echo ssh-ok > /ssh'
`,
    });
    let stderr = '';
    const io = {
      stdout: () => undefined,
      stderr: (t: string) => void (stderr += t),
      env: { ...process.env, E2E_CLI_SECRET: value },
      cwd: ctx,
      readFile: (p: string) => readFile(p, 'utf8'),
    };
    process.env.E2E_CLI_SECRET = value;
    try {
      const code = await main(
        ['build', '--progress', 'plain', '--cache-dir', await makeTempDir('e2e-cache-'), '--build-context', `busybox=oci-layout://${await busyboxLayout()}:latest`,
          '--secret', 'id=e,env=E2E_CLI_SECRET', '--ssh', `default=${sock}`, '-t', 'x:latest', '--output', `type=oci,dest=${out},tar=false`, '.'],
        io,
      );
      expect(stderr).not.toMatch(/^error/m);
      expect(code).toBe(0);
    } finally {
      delete process.env.E2E_CLI_SECRET;
      server.close();
    }
    expect(stderr).not.toContain(value);
    const root = path.join(await unpack(out), 'rootfs');
    expect(await readFile(path.join(root, 'sum'), 'utf8')).toBe(sha(value) + '\n');
    expect(await readFile(path.join(root, 'nofile'), 'utf8')).toBe('no-file\n');
    expect(await readFile(path.join(root, 'ssh'), 'utf8')).toBe('ssh-ok\n');
  });
});

describe('cache mount sharing across build processes', () => {
  /** Two `build-image build` processes at once on one cache dir, WHO=a and WHO=b; their exit codes. */
  async function twoBuilds(dockerfile: string, cacheDir: string): Promise<number[]> {
    const { spawn } = await import('node:child_process');
    const { busyboxLayout, cliBundle } = await import('./helpers/e2e-run.js');
    const cli = await cliBundle();
    const ctx = await makeTempDir('e2e-ctx-');
    await writeTree(ctx, { Dockerfile: dockerfile });
    const layout = await busyboxLayout();
    const one = (who: string) =>
      new Promise<number>((resolve) => {
        const child = spawn(process.execPath, [cli, 'build', '--progress', 'quiet', '--cache-dir', cacheDir, '--build-context', `busybox=oci-layout://${layout}:latest`, '--build-arg', `WHO=${who}`, ctx], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        child.on('close', (code) => resolve(code ?? -1));
      });
    return Promise.all([one('a'), one('b')]);
  }

  /** The log two concurrent builds (WHO=a, WHO=b) write into one cache mount with `sharing`, one line per start and end. */
  async function sharedLog(sharing: 'locked' | 'private', id: string): Promise<string[]> {
    const cacheDir = await makeTempDir('e2e-cache-');
    const run = `RUN --mount=type=cache,target=/c,id=${id},sharing=${sharing} sh -c 'echo "start $WHO" >> /c/log; sleep 1; echo "end $WHO" >> /c/log'`;
    expect(await twoBuilds(`FROM busybox\nARG WHO\n${run}\n`, cacheDir)).toEqual([0, 0]);
    return (await readFile(path.join(cacheDir, 'mounts', sha(id), 'log'), 'utf8')).trim().split('\n');
  }

  it('sharing=locked: the second build waits for the first to release the directory', async () => {
    // One after the other, in either order, never interleaved.
    expect([['start a', 'end a', 'start b', 'end b'], ['start b', 'end b', 'start a', 'end a']]).toContainEqual(await sharedLog('locked', 'xproc'));
  });

  it('sharing=private: a build that finds the directory in use gets one of its own', async () => {
    expect([['start a', 'end a'], ['start b', 'end b']]).toContainEqual(await sharedLog('private', 'xpriv'));
  });
});
