/**
 * Edge cases of RUN diffs (both snapshotters): renaming a lower directory, hardlinking a lower
 * file, metadata-only changes, fifos and device nodes, long and non-ASCII names; and of the RUN
 * sandbox: umask, hostname, /etc/hosts, stdin, no tty, proxy build args, undeclared build args,
 * a killed process's exit code, and layers that do not depend on the time of the build when
 * SOURCE_DATE_EPOCH is set.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addedLayers, e2eBuild, readConfig, readManifest, runBundle, SNAPSHOTTERS, unpack, type E2EBuild, type LayerEntry } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const LONG = 'd'.repeat(60) + '/' + 'f'.repeat(120);

const EDGE_DOCKERFILE = `FROM busybox
RUN mkdir -p /data/tree/sub /data/meta/inner && echo t > /data/tree/sub/f && echo m > /data/meta/inner/f && \\
    echo lower > /data/lowerfile && chmod 0755 /data/meta
RUN mv /data/tree /data/moved && ln /data/lowerfile /data/hardlink && chmod 0700 /data/meta && \\
    mkfifo /data/fifo && mknod /data/null c 1 3 && \\
    mkdir -p /data/${LONG.split('/')[0]} && echo long > /data/${LONG} && \\
    echo utf > "/data/grüße-日本" && ln -s "grüße-日本" /data/utf-link
CMD ["sh", "-c", "cat /data/moved/sub/f /data/hardlink /data/${LONG} /data/grüße-日本; ls -l /data/null | cut -c1"]
`;

describe.each(SNAPSHOTTERS)('RUN diff edge cases (%s snapshotter)', (snapshotter) => {
  let b: E2EBuild;
  let second: Map<string, LayerEntry>;
  let root: string;
  let bundle: string;

  beforeAll(async () => {
    b = await e2eBuild({ dockerfile: EDGE_DOCKERFILE, snapshotter, cacheDir: await makeTempDir('e2e-cache-') });
    const layers = await addedLayers(b.layout);
    second = new Map(layers[1]!.map((e) => [e.name, e]));
    bundle = await unpack(b.layout);
    root = path.join(bundle, 'rootfs');
  });

  it('turns a renamed lower directory into a whiteout plus the full new tree', async () => {
    expect(second.get('data/.wh.tree')).toMatchObject({ type: 'file', size: 0 });
    expect(second.get('data/moved/sub/f')?.data?.toString()).toBe('t\n');
    expect(await readdir(path.join(root, 'data/moved/sub'))).toEqual(['f']);
    await expect(lstat(path.join(root, 'data/tree'))).rejects.toThrow();
  });

  it('carries a lower file hardlinked in the RUN (overlay: one file and one hardlink entry)', async () => {
    if (snapshotter === 'copy') {
      // A walking differ sees the unchanged lower file as unchanged and the new name as a new
      // file, as BuildKit's non-overlay differ does: same content, link not kept.
      expect(second.has('data/lowerfile')).toBe(false);
      expect(second.get('data/hardlink')).toMatchObject({ type: 'file' });
      expect(second.get('data/hardlink')?.data?.toString()).toBe('lower\n');
      return;
    }
    const a = second.get('data/lowerfile')!;
    const h = second.get('data/hardlink')!;
    const [file, link] = a.type === 'file' ? [a, h] : [h, a];
    expect(file.data?.toString()).toBe('lower\n');
    expect(link).toMatchObject({ type: 'link', linkname: file.name });
    const [s1, s2] = await Promise.all([lstat(path.join(root, 'data/lowerfile')), lstat(path.join(root, 'data/hardlink'))]);
    expect(s1.ino).toBe(s2.ino);
  });

  it('records a chmod of a lower directory without its unchanged children', async () => {
    expect(second.get('data/meta')).toMatchObject({ type: 'directory', mode: 0o700 });
    expect([...second.keys()].filter((n) => n.startsWith('data/meta/'))).toEqual([]);
    expect(await readFile(path.join(root, 'data/meta/inner/f'), 'utf8')).toBe('m\n');
  });

  it('keeps fifos, device nodes, long names and non-ASCII names', async () => {
    expect(second.get('data/fifo')).toMatchObject({ type: 'fifo' });
    expect(second.get('data/null')).toMatchObject({ type: 'character-device' });
    expect(second.get(`data/${LONG}`)?.data?.toString()).toBe('long\n');
    expect(second.get('data/grüße-日本')?.data?.toString()).toBe('utf\n');
    expect(second.get('data/utf-link')).toMatchObject({ type: 'symlink', linkname: 'grüße-日本' });
    expect((await lstat(path.join(root, 'data/fifo'))).isFIFO()).toBe(true);
    const dev = await lstat(path.join(root, 'data/null'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe((1 << 8) | 3);
    expect(await readlink(path.join(root, 'data/utf-link'))).toBe('grüße-日本');
  });

  it('runs from the unpacked bundle', async () => {
    const r = await runBundle(bundle);
    expect(r.stdout).toBe('t\nlower\nlong\nutf\nc\n');
  });
});

describe('the RUN sandbox', () => {
  let b: E2EBuild;
  let root: string;
  const cacheDir = makeTempDir('e2e-cache-');

  beforeAll(async () => {
    b = await e2eBuild({
      dockerfile: `FROM busybox
ARG DECLARED=d
RUN mkdir /out && umask > /out/umask && touch /out/file && mkdir /out/dir && hostname > /out/hostname && \\
    cat /etc/hosts > /out/hosts && (cat; echo "stdin-done") > /out/stdin && \\
    (test -t 0 || echo "no-tty") > /out/tty && \\
    echo "proxy=$HTTP_PROXY undeclared=[$UNDECLARED] declared=$DECLARED" > /out/args && \\
    ls -d /dev/shm /dev/null /proc/self > /out/dev
`,
      snapshotter: 'overlay',
      cacheDir: await cacheDir,
      buildArgs: { HTTP_PROXY: 'http://proxy.invalid:3128', UNDECLARED: 'u' },
    });
    root = path.join(await unpack(b.layout), 'rootfs');
  });
  const out = (name: string) => readFile(path.join(root, 'out', name), 'utf8');

  it('runs with umask 0022, so new files are 0644 and directories 0755', async () => {
    expect(await out('umask')).toBe('0022\n');
    expect((await lstat(path.join(root, 'out/file'))).mode & 0o7777).toBe(0o644);
    expect((await lstat(path.join(root, 'out/dir'))).mode & 0o7777).toBe(0o755);
  });

  it('has BuildKit’s hostname and /etc/hosts, empty stdin and no tty', async () => {
    expect(await out('hostname')).toBe('buildkitsandbox\n');
    const hosts = await out('hosts');
    expect(hosts).toMatch(/^127\.0\.0\.1\s+localhost buildkitsandbox$/m);
    expect(hosts).toMatch(/^::1\s+localhost ip6-localhost ip6-loopback$/m);
    expect(await out('stdin')).toBe('stdin-done\n');
    expect(await out('tty')).toBe('no-tty\n');
    expect(await out('dev')).toBe('/dev/null\n/dev/shm\n/proc/self\n');
  });

  it('sees proxy build args without declaring them, not undeclared ones; history shows declared args only', async () => {
    expect(await out('args')).toBe('proxy=http://proxy.invalid:3128 undeclared=[] declared=d\n');
    const runs = ((await readConfig(b.layout)).config.history ?? []).map((h) => h.created_by ?? '').filter((c) => c.startsWith('RUN '));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/^RUN \|1 DECLARED=d \/bin\/sh -c mkdir \/out/);
    expect(runs[0]).not.toContain('proxy.invalid');
  });

  it('does not leave the /etc/hosts and /etc/resolv.conf mount points in the layer', async () => {
    const names = (await addedLayers(b.layout)).flat().map((e) => e.name);
    expect(names.filter((n) => n.startsWith('etc'))).toEqual([]);
  });
});

describe('exit codes', () => {
  it('reports 137 for a RUN killed by SIGKILL', async () => {
    // A child shell: the RUN's own shell is pid 1 of its pid namespace, immune to SIGKILL from inside.
    const err = await e2eBuild({ dockerfile: "FROM busybox\nRUN sh -c 'kill -9 $$' && echo not-reached\n", snapshotter: 'overlay', cacheDir: await makeTempDir('e2e-cache-') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_RUN_FAILED', data: { exitCode: 137 } });
    expect((err as Error).message).toContain('did not complete successfully: exit code: 137');
  });
});

describe.each(SNAPSHOTTERS)('reproducible RUN layers (%s snapshotter)', (snapshotter) => {
  it('gives identical layer digests for two --no-cache builds with SOURCE_DATE_EPOCH', async () => {
    const dockerfile = 'FROM busybox\nRUN mkdir -p /app/d && echo hi > /app/d/f && ln -s f /app/d/l && touch /app/empty\n';
    const build = async () =>
      e2eBuild({ dockerfile, snapshotter, cacheDir: await makeTempDir('e2e-cache-'), noCache: true, sourceDateEpoch: 1700000000 });
    const first = await build();
    await new Promise((r) => setTimeout(r, 1100)); // a different wall-clock second
    const second = await build();
    const [m1, m2] = await Promise.all([readManifest(first.layout), readManifest(second.layout)]);
    expect(m2.layers.map((l) => l.digest)).toEqual(m1.layers.map((l) => l.digest));
    expect(second.result.digest).toBe(first.result.digest);
  });
});
