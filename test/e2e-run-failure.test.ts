/**
 * RUN failing, networking, entitlements and abort, through `build()` and the CLI's `main()`:
 * the error names the step, the Dockerfile line, the exit code and the last output lines; the CLI
 * exits 1 with a code frame; `--network=none` sees only `lo`, the default is the host's network;
 * `--security=insecure` needs `--allow security.insecure`; an abort during a long RUN rejects
 * quickly and leaves no container and no mount behind, and so does a CLI build whose output
 * reader goes away (EPIPE).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../packages/builder/src/cli/main.js';
import { addedLayers, busyboxLayout, cliBundle, e2eBuild, expectNoRuntimeState, mountsUnder, runImage, unpack } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const FAILING = `FROM busybox
ENV A=1
WORKDIR /w
# the next line fails
RUN echo line-one && echo line-two >&2 && exit 3
`;

function captureIO(cwd: string): CliIO & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    env: { ...process.env },
    cwd,
    readFile: (p: string) => readFile(p, 'utf8'),
  };
  return io;
}

describe('a failing RUN', () => {
  it('rejects with the step, Dockerfile:5, the exit code and the last output lines', async () => {
    const err = (await e2eBuild({ dockerfile: FAILING, snapshotter: 'overlay', cacheDir: await makeTempDir('e2e-cache-') }).catch((e: unknown) => e)) as Error & {
      code?: string;
      location?: { line: number };
      data?: { exitCode?: number };
    };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('E_RUN_FAILED');
    expect(err.location?.line).toBe(5);
    expect(err.data?.exitCode).toBe(3);
    expect(err.message).toMatch(/^Dockerfile:5: /);
    expect(err.message).toContain('process "/bin/sh -c echo line-one && echo line-two >&2 && exit 3" did not complete successfully: exit code: 3');
    expect(err.message).toContain('line-one');
    expect(err.message).toContain('line-two');
  });

  it('makes the CLI exit 1 and print the error with a code frame', async () => {
    const ctx = await makeTempDir('e2e-ctx-');
    await writeTree(ctx, { Dockerfile: FAILING });
    const io = captureIO(ctx);
    const code = await main(
      ['build', '--progress', 'plain', '--cache-dir', await makeTempDir('e2e-cache-'), '--build-context', `busybox=oci-layout://${await busyboxLayout()}:latest`, '.'],
      io,
    );
    expect(code).toBe(1);
    expect(io.out).toBe('');
    expect(io.err).toContain('error: Dockerfile:5: process "/bin/sh -c echo line-one && echo line-two >&2 && exit 3" did not complete successfully: exit code: 3');
    // The step is named in the progress output, with its output lines.
    expect(io.err).toContain('RUN echo line-one && echo line-two >&2 && exit 3');
    expect(io.err).toContain('line-two');
    // The project's code frame (@build-image/errors formatCodeFrame): context lines, the failing line marked.
    expect(io.err).toMatch(/^> 5 \| RUN echo line-one && echo line-two >&2 && exit 3$/m);
    expect(io.err).toMatch(/^ +4 \| # the next line fails$/m);
  });
});

describe('a RUN failing after others', () => {
  it('keeps the finished steps cached and leaves no snapshot, mount or container behind', async () => {
    const cacheDir = await makeTempDir('e2e-cache-');
    // Each written layer is still being stored while the next RUN runs (overlay): the failure
    // must wait for those writes, record their cache entries and then clean up.
    const steps = 'FROM busybox\nRUN echo one > /one\nRUN head -c 3000000 /dev/urandom > /big\n';
    const err = await e2eBuild({ dockerfile: `${steps}RUN exit 4\n`, snapshotter: 'overlay', cacheDir }).catch((e: unknown) => e);
    expect((err as { data?: { exitCode?: number } }).data?.exitCode).toBe(4);
    expect(await mountsUnder(cacheDir)).toEqual([]);
    await expectNoRuntimeState(cacheDir);
    const snapshots = path.join(cacheDir, 'snapshots', 'overlay', 'snapshots');
    expect(existsSync(snapshots) ? readdirSync(snapshots) : []).toEqual([]);

    const again = await e2eBuild({ dockerfile: `${steps}RUN wc -c /big /one\n`, snapshotter: 'overlay', cacheDir });
    expect(again.result.cache.cached).toBe(2);
    expect(again.result.cache.run).toBe(1);
    expect(again.output).toMatch(/3000000 \/big\s+4 \/one/);
    const layers = await addedLayers(again.layout);
    expect(layers.map((l) => l.filter((e) => !/^(proc|sys|dev|etc)\/?$/.test(e.name)).map((e) => e.name))).toEqual([['one'], ['big'], []]);
  });
});

describe('RUN networking and entitlements', () => {
  it('sees only lo with --network=none and the host interfaces by default', async () => {
    const b = await e2eBuild({
      dockerfile: `FROM busybox
RUN --network=none sh -c 'ip -o link | cut -d: -f2 | tr -d " " | sort | tr "\\n" " " > /none'
RUN sh -c 'ip -o link | cut -d: -f2 | tr -d " " | cut -d@ -f1 | sort | tr "\\n" " " > /host'
CMD ["cat", "/none", "/host"]
`,
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
    });
    const rootfs = path.join(await unpack(b.layout), 'rootfs');
    expect(await readFile(path.join(rootfs, 'none'), 'utf8')).toBe('lo ');
    const hostLinks = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => (l.split(':')[1] ?? '').trim().split('@')[0])
      .sort();
    expect(hostLinks.length).toBeGreaterThan(1);
    expect(await readFile(path.join(rootfs, 'host'), 'utf8')).toBe(hostLinks.join(' ') + ' ');
    expect(await runImage(b.layout)).toBe('lo ' + hostLinks.join(' ') + ' ');
  });

  it('refuses RUN --security=insecure without --allow security.insecure', async () => {
    const err = await e2eBuild({
      dockerfile: 'FROM busybox\nRUN --security=insecure true\n',
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ENTITLEMENT', location: { line: 2 } });
    expect((err as Error).message).toContain('--allow security.insecure');
  });

  it('runs a sandboxed RUN under a seccomp filter that refuses new namespaces, and an insecure one without', async () => {
    const b = await e2eBuild({
      dockerfile: `FROM busybox
RUN grep '^Seccomp:' /proc/self/status | cut -f2 > /sandbox-seccomp; unshare -U true 2> /unshare-err; echo $? > /unshare-rc; sleep 0 & wait $!; echo $? > /fork-rc
RUN --security=insecure sh -c 'grep "^Seccomp:" /proc/self/status | cut -f2 > /insecure-seccomp; unshare -U true; echo $? > /insecure-unshare-rc'
`,
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
      allow: ['security.insecure'],
    });
    const rootfs = path.join(await unpack(b.layout), 'rootfs');
    const read = (f: string) => readFile(path.join(rootfs, f), 'utf8');
    // 2: SECCOMP_MODE_FILTER.
    expect(await read('sandbox-seccomp')).toBe('2\n');
    expect(await read('unshare-rc')).toBe('1\n');
    expect(await read('unshare-err')).toContain('Operation not permitted');
    expect(await read('fork-rc')).toBe('0\n');
    expect(await read('insecure-seccomp')).toBe('0\n');
    expect(await read('insecure-unshare-rc')).toBe('0\n');
  });

  it('runs RUN --security=insecure with every capability when allowed', async () => {
    const b = await e2eBuild({
      dockerfile: `FROM busybox
RUN --security=insecure sh -c 'grep CapEff /proc/self/status | cut -f2 > /insecure-caps'
RUN sh -c 'grep CapEff /proc/self/status | cut -f2 > /sandbox-caps'
CMD ["cat", "/sandbox-caps"]
`,
      snapshotter: 'overlay',
      cacheDir: await makeTempDir('e2e-cache-'),
      allow: ['security.insecure'],
    });
    const rootfs = path.join(await unpack(b.layout), 'rootfs');
    const hostCaps = (await readFile('/proc/self/status', 'utf8')).match(/^CapBnd:\s*(\w+)$/m)![1];
    expect(await readFile(path.join(rootfs, 'insecure-caps'), 'utf8')).toBe(`${hostCaps}\n`);
    // Docker's default 14 capabilities.
    expect(await readFile(path.join(rootfs, 'sandbox-caps'), 'utf8')).toBe('00000000a80425fb\n');
    expect(await runImage(b.layout)).toBe('00000000a80425fb\n');
  });
});

describe('abort', () => {
  it('rejects quickly during a long RUN and leaves no container and no mount', async () => {
    const cacheDir = await makeTempDir('e2e-cache-');
    const controller = new AbortController();
    let started = 0;
    const building = e2eBuild({
      dockerfile: 'FROM busybox\nRUN echo started && sleep 30\n',
      snapshotter: 'overlay',
      cacheDir,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === 'step-output' && e.text.includes('started') && !started) {
          started = Date.now();
          controller.abort(new Error('test abort'));
        }
      },
    });
    const err = await building.catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(started).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(Error);
    expect(took).toBeLessThan(5000);
    await expectNoRuntimeState(cacheDir);
    expect(await mountsUnder(cacheDir)).toEqual([]);
    // No process of the container survives.
    const sleeping = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 30');
    expect(sleeping).toEqual([]);
  });
});

describe('output closed', () => {
  it('a CLI build whose stderr reader goes away stops like on SIGTERM and leaves no container, process or mount', async () => {
    const dir = await makeTempDir('e2e-epipe-');
    await writeTree(dir, { Dockerfile: 'FROM busybox\nRUN echo started && for i in $(seq 1 150); do echo tick-$i; sleep 0.2; done\n' });
    const cache = path.join(dir, 'cache');
    const cli = await cliBundle();
    const args = ['build', '--progress', 'plain', '--cache-dir', cache, '--build-context', `busybox=oci-layout://${await busyboxLayout()}:latest`, dir];
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let closed = 0;
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      // `… | head`: the reader leaves once it has seen the container's first line.
      if (!closed && /^#\d+ [\d.]+ started$/m.test(stderr)) {
        closed = Date.now();
        child.stderr.destroy();
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(closed).toBeGreaterThan(0);
    expect(Date.now() - closed).toBeLessThan(10_000);
    expect(code).toBe(1);
    await expectNoRuntimeState(cache);
    expect(await mountsUnder(cache)).toEqual([]);
    const ticking = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 0.2');
    expect(ticking).toEqual([]);
  });
});
