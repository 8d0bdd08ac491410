/**
 * What a RUN sees and how it is recorded: USER, WORKDIR, SHELL, ENV and ARG inside the container,
 * ENV winning over ARG as BuildKit resolves them, history `created_by` exactly like BuildKit's
 * (`RUN |N K=V … /bin/sh -c … # buildkit`), heredoc RUNs and exec form.
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eBuild, readConfig, runBundle, unpack, type E2EBuild } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const DOCKERFILE = `FROM busybox
ARG A=1 B=2
RUN mkdir /out && echo "a=$A b=$B" > /out/args
ARG V1=arg1
ENV V1=env1
ENV V2=env2
ARG V2=arg2
RUN echo "v1=$V1 v2=$V2" > /out/precedence
USER app
WORKDIR /home/app/work
RUN id > /home/app/work/id && pwd > /home/app/work/pwd
USER 65534:1000
RUN id > /tmp/id2
USER root
SHELL ["/bin/sh", "-xc"]
RUN echo shell-x > /out/shell
SHELL ["/bin/sh", "-c"]
RUN ["/bin/sh", "-c", "echo exec $0 \\"$V1\\" > /out/exec", "zero"]
RUN ["/bin/echo", "no $V1 expansion"]
RUN <<EOF
echo one > /out/heredoc
echo two >> /out/heredoc
EOF
RUN cat <<EOF > /out/recon
hello $V1
EOF
RUN <<EOF
#!/bin/awk -f
BEGIN { print "awk ran" > "/out/shebang" }
EOF
CMD ["sh", "-c", "cat /out/args /out/precedence /home/app/work/id /home/app/work/pwd /tmp/id2 /out/shell /out/exec /out/heredoc /out/recon /out/shebang"]
`;

describe('what RUN sees', () => {
  let b: E2EBuild;
  let history: string[];
  let rootfs: string;
  let bundle: string;

  beforeAll(async () => {
    b = await e2eBuild({ dockerfile: DOCKERFILE, snapshotter: 'overlay', cacheDir: await makeTempDir('e2e-cache-'), buildArgs: { B: 'cli' } });
    history = ((await readConfig(b.layout)).config.history ?? []).map((h) => h.created_by ?? '');
    bundle = await unpack(b.layout);
    rootfs = path.join(bundle, 'rootfs');
  });
  const file = (p: string) => readFile(path.join(rootfs, p), 'utf8');

  it('sees ARG values (defaults and --build-arg) in its environment', async () => {
    expect(await file('out/args')).toBe('a=1 b=cli\n');
  });

  it('lets ENV after ARG win, and ARG after ENV win in RUN (BuildKit adds ARG values to the run env)', async () => {
    expect(await file('out/precedence')).toBe('v1=env1 v2=arg2\n');
    // The image keeps the ENV value.
    const env = ((await readConfig(b.layout)).config.config?.Env ?? []) as string[];
    expect(env).toContain('V2=env2');
  });

  it('runs as USER in WORKDIR', async () => {
    expect(await file('home/app/work/id')).toBe('uid=1000(app) gid=1000(app) groups=1000(app)\n');
    expect(await file('home/app/work/pwd')).toBe('/home/app/work\n');
    expect(await file('tmp/id2')).toBe('uid=65534(nobody) gid=1000(app) groups=1000(app)\n');
  });

  it('uses SHELL for shell form (the -x trace reaches the output)', async () => {
    expect(await file('out/shell')).toBe('shell-x\n');
    expect(b.output).toContain('+ echo shell-x\n');
  });

  it('runs exec form without a shell and without expansion', async () => {
    expect(await file('out/exec')).toBe('exec zero env1\n');
    expect(b.output).toContain('no $V1 expansion\n');
  });

  it('runs heredocs: a lone heredoc as the script, a heredoc in a command reconstituted, a shebang heredoc as a file', async () => {
    expect(await file('out/heredoc')).toBe('one\ntwo\n');
    expect(await file('out/recon')).toBe('hello env1\n');
    expect(await file('out/shebang')).toBe('awk ran\n');
  });

  it('records created_by exactly as BuildKit does', () => {
    const runs = history.filter((h) => h.startsWith('RUN '));
    expect(runs).toEqual([
      'RUN |2 A=1 B=cli /bin/sh -c mkdir /out && echo "a=$A b=$B" > /out/args # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c echo "v1=$V1 v2=$V2" > /out/precedence # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c id > /home/app/work/id && pwd > /home/app/work/pwd # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c id > /tmp/id2 # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -xc echo shell-x > /out/shell # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c echo exec $0 "$V1" > /out/exec zero # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/echo no $V1 expansion # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c echo one > /out/heredoc\necho two >> /out/heredoc\n # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c cat <<EOF > /out/recon\nhello $V1\nEOF # buildkit',
      'RUN |4 A=1 B=cli V1=env1 V2=arg2 /bin/sh -c /dev/pipes/EOF # buildkit',
    ]);
  });

  it('runs from the unpacked bundle', async () => {
    const r = await runBundle(bundle);
    expect(r.stdout).toBe(
      [
        'a=1 b=cli',
        'v1=env1 v2=arg2',
        'uid=1000(app) gid=1000(app) groups=1000(app)',
        '/home/app/work',
        'uid=65534(nobody) gid=1000(app) groups=1000(app)',
        'shell-x',
        'exec zero env1',
        'one',
        'two',
        'hello env1',
        'awk ran',
        '',
      ].join('\n'),
    );
  });
});

describe('more users and heredocs', () => {
  let root: string;
  let history: string[];
  beforeAll(async () => {
    const b = await e2eBuild({
      dockerfile: [
        'FROM busybox',
        'USER 4242',
        'RUN id > /tmp/numeric',
        'USER root',
        "RUN <<'EOF'",
        'echo "quoted $HOME" > /quoted',
        'EOF',
        'RUN sh <<EOF',
        'echo "from stdin" > /stdin-heredoc',
        'EOF',
        'RUN <<-EOF',
        '\techo "tabs stripped" > /tabs',
        '\tEOF',
        'RUN cat <<A > /a && cat <<B > /b',
        'first',
        'A',
        'second',
        'B',
        '',
      ].join('\n'),
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
    });
    root = path.join(await unpack(b.layout), 'rootfs');
    history = ((await readConfig(b.layout)).config.history ?? []).map((h) => h.created_by ?? '').filter((c) => c.startsWith('RUN '));
  });
  const file = (p: string) => readFile(path.join(root, p), 'utf8');

  it('runs as a numeric USER missing from /etc/passwd with gid 0', async () => {
    expect(await file('tmp/numeric')).toBe('uid=4242 gid=0(root) groups=0(root)\n');
  });

  it('expands variables in a lone heredoc even when its word is quoted (BuildKit ignores the quoting there)', async () => {
    expect(await file('quoted')).toBe('quoted /root\n');
  });

  it('feeds a heredoc to a command’s stdin, strips tabs with <<-, and handles two heredocs', async () => {
    expect(await file('stdin-heredoc')).toBe('from stdin\n');
    expect(await file('tabs')).toBe('tabs stripped\n');
    expect(await file('a')).toBe('first\n');
    expect(await file('b')).toBe('second\n');
  });

  it('records the heredoc RUNs as BuildKit does', () => {
    expect(history).toEqual([
      'RUN /bin/sh -c id > /tmp/numeric # buildkit',
      'RUN /bin/sh -c echo "quoted $HOME" > /quoted\n # buildkit',
      'RUN /bin/sh -c sh <<EOF\necho "from stdin" > /stdin-heredoc\nEOF # buildkit',
      'RUN /bin/sh -c echo "tabs stripped" > /tabs\n # buildkit',
      'RUN /bin/sh -c cat <<A > /a && cat <<B > /b\nfirst\nA\nsecond\nB # buildkit',
    ]);
  });
});

describe('an unknown USER', () => {
  it('fails the RUN naming the user and the line', async () => {
    const err = (await e2eBuild({ dockerfile: 'FROM busybox\nUSER nosuch\nRUN true\n', snapshotter: 'overlay', cacheDir: await makeTempDir('e2e-cache-') }).catch((e: unknown) => e)) as Error & { location?: { line: number } };
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('unable to find user nosuch');
    expect(err.location?.line).toBe(3);
  });
});

describe('a working directory missing from the base image', () => {
  it('is created owned by the RUN’s USER, as BuildKit’s executor does', async () => {
    // A base whose config names /gone as WORKDIR although the directory is not in its layers.
    const base = await e2eBuild({ dockerfile: 'FROM busybox\nWORKDIR /gone/deeper\nRUN rmdir /gone/deeper /gone\n', snapshotter: 'overlay', cacheDir: await makeTempDir('e2e-cache-') });
    const b = await e2eBuild({
      dockerfile: 'FROM base\nUSER app\nRUN touch made-by-app && pwd > /tmp/pwd\n',
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
      buildContexts: [{ name: 'base', kind: 'oci-layout', dir: base.layout, tag: 'latest' }],
    });
    const root = path.join(await unpack(b.layout), 'rootfs');
    expect(await readFile(path.join(root, 'tmp/pwd'), 'utf8')).toBe('/gone/deeper\n');
    for (const p of ['gone', 'gone/deeper', 'gone/deeper/made-by-app']) {
      const st = await lstat(path.join(root, p));
      expect([p, st.uid, st.gid]).toEqual([p, 1000, 1000]);
    }
  });
});

describe('--add-host, --ulimit and --shm-size', () => {
  const dockerfile = `FROM busybox
RUN cat /etc/hosts > /hosts; ulimit -n > /nofile; ulimit -Hn > /nofile-hard; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm
`;
  it('reach every RUN (/etc/hosts lines, the process limits, the /dev/shm size) and its cache key', async () => {
    const cacheDir = await makeTempDir('e2e-cache-');
    const options = {
      dockerfile,
      snapshotter: 'overlay' as const,
      cacheDir,
      addHosts: [{ host: 'db', ip: '10.0.0.5' }, { host: 'v6', ip: '2001:db8::33' }],
      ulimits: [{ name: 'nofile', soft: 1000, hard: 2000 }],
      shmSize: 32 * 1024 * 1024,
    };
    const b = await e2eBuild(options);
    const root = path.join(await unpack(b.layout), 'rootfs');
    expect(await readFile(path.join(root, 'hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tdb\n2001:db8::33\tv6\n');
    expect(await readFile(path.join(root, 'nofile'), 'utf8')).toBe('1000\n');
    expect(await readFile(path.join(root, 'nofile-hard'), 'utf8')).toBe('2000\n');
    expect(await readFile(path.join(root, 'shm'), 'utf8')).toBe('32768\n');
    // The same options hit the cache; each changed one is a miss (they are part of the RUN, as in BuildKit).
    expect((await e2eBuild(options)).result.cache).toMatchObject({ run: 0, cached: 1 });
    for (const changed of [{ addHosts: [{ host: 'db', ip: '10.0.0.6' }] }, { ulimits: [{ name: 'nofile', soft: 1000, hard: 3000 }] }, { shmSize: 16 * 1024 * 1024 }]) {
      expect((await e2eBuild({ ...options, ...changed })).result.cache).toMatchObject({ run: 1, cached: 0 });
    }
    // Without them: Docker's 64 MiB /dev/shm and the engine's own limits.
    const plain = await e2eBuild({ dockerfile, snapshotter: 'overlay', cacheDir });
    const plainRoot = path.join(await unpack(plain.layout), 'rootfs');
    expect(await readFile(path.join(plainRoot, 'shm'), 'utf8')).toBe('65536\n');
    expect(await readFile(path.join(plainRoot, 'hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  });
});
