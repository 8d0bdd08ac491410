/**
 * End to end: image configs and history field by field, base images (OCI layout named context,
 * scratch), ONBUILD across builds, multi-stage --target, the CLI, reproducibility with
 * SOURCE_DATE_EPOCH, cache behaviour with explained misses, and parallel stages.
 */
import { existsSync } from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildContextSpec } from '@build-image/builder';
import { hostPlatform, makeBusyboxImage, type BusyboxImage } from './helpers/busybox-image.js';
import { buildImage, dir, extractOciTar, file, listTree, readLayout, runCli, skopeoInspect, stepEvents, unpackLayout } from './helpers/e2e.js';
import { cleanupTempDirs, makeTempDir, writeTree, type Tree } from './helpers/tmp.js';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
let busybox: BusyboxImage;
let base: BuildContextSpec;

beforeAll(async () => {
  busybox = await makeBusyboxImage();
  base = { name: 'base', kind: 'oci-layout', dir: busybox.layoutDir, tag: 'latest' };
});
afterAll(cleanupTempDirs);

const historyOf = (config: { history: Array<{ created_by: string }> }) => config.history.map((h) => h.created_by);

describe('image config and history', () => {
  it('every config instruction, field by field, with BuildKit history texts', async () => {
    const { layoutDir, result } = await buildImage({
      buildContexts: [base],
      files: { 'a.txt': 'A' },
      dockerfile: [
        'FROM base',
        'ENV A=1 B="two words"',
        'ENV C=${A}x',
        'LABEL org.test.a="1" b=two',
        'EXPOSE 80 443/tcp 53/udp',
        'VOLUME ["/data", "/logs"]',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=4 CMD ["true"]',
        'SHELL ["/bin/sh", "-ec"]',
        'USER app:app',
        'WORKDIR /srv',
        'ENTRYPOINT ["/bin/echo"]',
        'CMD ["hello"]',
        'ONBUILD COPY a.txt /onbuild/',
        'ONBUILD ENV FROM_ONBUILD=1',
        '',
      ].join('\n'),
      labels: { 'from.cli': 'yes' },
    });
    const { config, manifest, manifestDigest } = await readLayout(layoutDir);
    expect(manifestDigest).toBe(result.digest);
    expect(config.architecture).toBe(hostPlatform().architecture);
    expect(config.os).toBe('linux');
    expect(config.config).toEqual({
      Env: [PATH_ENV, 'A=1', 'B=two words', 'C=1x'],
      Labels: { 'org.test.a': '1', b: 'two', 'from.cli': 'yes' },
      ExposedPorts: { '80/tcp': {}, '443/tcp': {}, '53/udp': {} },
      Volumes: { '/data': {}, '/logs': {} },
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', 'true'], Interval: 5e9, Timeout: 3e9, StartPeriod: 1e9, Retries: 4 },
      Shell: ['/bin/sh', '-ec'],
      User: 'app:app',
      WorkingDir: '/srv',
      Entrypoint: ['/bin/echo'],
      Cmd: ['hello'],
      ArgsEscaped: true,
      OnBuild: ['COPY a.txt /onbuild/', 'ENV FROM_ONBUILD=1'],
    });
    expect(historyOf(config)).toEqual([
      'build-image test fixture: busybox rootfs',
      'ENV A=1 B=two words',
      'ENV C=1x',
      'LABEL org.test.a=1 b=two',
      // The parser sorts the port words as written (slices.Sort), before they gain their /tcp.
      'EXPOSE [443/tcp 53/udp 80/tcp]',
      'VOLUME [/data /logs]',
      'STOPSIGNAL SIGTERM',
      'HEALTHCHECK {Test:[CMD true] Interval:5s Timeout:3s StartPeriod:1s StartInterval:0s Retries:4}',
      'SHELL [/bin/sh -ec]',
      'USER app:app',
      'WORKDIR /srv',
      'ENTRYPOINT ["/bin/echo"]',
      'CMD ["hello"]',
    ]);
    // The base's history entry is kept verbatim; this build's entries carry BuildKit's comment.
    expect(config.history[0]).toEqual(busybox.config.history[0]);
    for (const h of config.history.slice(1)) {
      expect(h.comment).toBe('buildkit.dockerfile.v0');
      expect(h.created).toBe(config.created);
      expect(Boolean(h.empty_layer)).toBe(h.created_by !== 'WORKDIR /srv');
    }
    // WORKDIR makes a layer (BuildKit mkdirs it); the rest are metadata only.
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(config.rootfs.diff_ids[0]).toBe(busybox.diffId);
    expect(manifest.layers).toHaveLength(2);
    expect(manifest.layers[0]!.digest).toBe(busybox.layerDigest);
    const { rootfs } = await unpackLayout(layoutDir);
    const tree = await listTree(rootfs, { skip: ['bin'] });
    // BuildKit's WORKDIR mkdir runs as the current USER (llb.WithUser): app:app is 1000:1000.
    expect(tree['srv']).toEqual(dir('0755', 1000, 1000));
    expect(tree['onbuild']).toBeUndefined();
  });

  it('less common forms: MAINTAINER, legacy ENV, quoted LABEL keys, numeric USER and STOPSIGNAL, port ranges, HEALTHCHECK NONE/shell, CMD []', async () => {
    const { layoutDir } = await buildImage({
      files: {},
      buildArgs: { B: 'fromcli' },
      dockerfile: [
        'FROM scratch',
        'MAINTAINER Jane <j@example.com>',
        'ARG B=def C=3',
        'ENV LEGACY value with spaces',
        'LABEL "my key"="a b" plain=1',
        'USER 1000',
        'HEALTHCHECK NONE',
        'HEALTHCHECK --interval=1m30s CMD echo hi',
        'CMD []',
        'ENV P=${B}-${C}',
        'EXPOSE 9000-9001 8080/UDP',
        'STOPSIGNAL 9',
        '',
      ].join('\n'),
    });
    const { config } = await readLayout(layoutDir);
    expect(config.author).toBe('Jane <j@example.com>');
    // Go's omitempty: `CMD []` leaves no Cmd; BuildKit's empty image has WorkingDir "/".
    expect(config.config).toEqual({
      ArgsEscaped: true,
      Env: [PATH_ENV, 'LEGACY=value with spaces', 'P=fromcli-3'],
      ExposedPorts: { '8080/udp': {}, '9000/tcp': {}, '9001/tcp': {} },
      Healthcheck: { Test: ['CMD-SHELL', 'echo hi'], Interval: 90e9 },
      Labels: { 'my key': 'a b', plain: '1' },
      StopSignal: '9',
      User: '1000',
      WorkingDir: '/',
    });
    expect(historyOf(config)).toEqual([
      'MAINTAINER Jane <j@example.com>',
      'ARG B=fromcli C=3',
      'ENV LEGACY=value with spaces',
      'LABEL my key=a b plain=1',
      'USER 1000',
      'HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
      'HEALTHCHECK {Test:[CMD-SHELL echo hi] Interval:1m30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}',
      'CMD []',
      'ENV P=fromcli-3',
      'EXPOSE [8080/udp 9000/tcp 9001/tcp]',
      'STOPSIGNAL 9',
    ]);
  });

  it('ENTRYPOINT resets an inherited CMD; shell forms use SHELL; CMD after ENTRYPOINT stays', async () => {
    const a = await buildImage({ buildContexts: [base], files: {}, dockerfile: 'FROM base\nENTRYPOINT ["/bin/sh"]\n' });
    const ca = (await readLayout(a.layoutDir)).config.config;
    expect(ca.Entrypoint).toEqual(['/bin/sh']);
    expect(ca.Cmd).toBeUndefined();
    const b = await buildImage({ buildContexts: [base], files: {}, dockerfile: 'FROM base\nCMD echo $HOME\nSHELL ["/bin/ash", "-xc"]\nENTRYPOINT exec top\n' });
    const cb = (await readLayout(b.layoutDir)).config;
    expect(cb.config.Cmd).toEqual(['/bin/sh', '-c', 'echo $HOME']);
    expect(cb.config.Entrypoint).toEqual(['/bin/ash', '-xc', 'exec top']);
    expect(historyOf(cb).slice(1)).toEqual(['CMD ["/bin/sh" "-c" "echo $HOME"]', 'SHELL [/bin/ash -xc]', 'ENTRYPOINT ["/bin/ash" "-xc" "exec top"]']);
  });

  it('FROM scratch: BuildKit empty image (default PATH, host platform, no layers until one is made)', async () => {
    const { layoutDir } = await buildImage({ files: { f: 'F' }, dockerfile: 'FROM scratch\nENV X=y\nCOPY f /f\n' });
    const { config, manifest } = await readLayout(layoutDir);
    expect(config.config.Env).toEqual([PATH_ENV, 'X=y']);
    expect(config.architecture).toBe(hostPlatform().architecture);
    expect(config.os).toBe('linux');
    expect(manifest.layers).toHaveLength(1);
    expect(historyOf(config)).toEqual(['ENV X=y', 'COPY f /f # buildkit']);
    expect(config.history.map((h: { empty_layer?: boolean }) => Boolean(h.empty_layer))).toEqual([true, false]);
    expect(await listTree((await unpackLayout(layoutDir)).rootfs)).toEqual({ f: file('F') });
  });
});

describe('ONBUILD', () => {
  it('triggers are recorded, then run first when a later build uses the image as its base', async () => {
    const parent = await buildImage({
      buildContexts: [base],
      files: {},
      dockerfile: 'FROM base\nONBUILD COPY a.txt /onbuild/\nONBUILD ENV FROM_ONBUILD=1\nLABEL parent=1\n',
    });
    const pc = (await readLayout(parent.layoutDir)).config;
    expect(pc.config.OnBuild).toEqual(['COPY a.txt /onbuild/', 'ENV FROM_ONBUILD=1']);
    const child = await buildImage({
      buildContexts: [{ name: 'parent', kind: 'oci-layout', dir: parent.layoutDir, tag: 'latest' }],
      files: { 'a.txt': 'from the child context', 'b.txt': 'B' },
      dockerfile: 'FROM parent\nCOPY b.txt /b.txt\n',
    });
    const cc = (await readLayout(child.layoutDir)).config;
    expect(cc.config.OnBuild).toBeUndefined();
    expect(cc.config.Env).toEqual([PATH_ENV, 'FROM_ONBUILD=1']);
    expect(cc.config.Labels).toEqual({ parent: '1' });
    expect(historyOf(cc)).toEqual(['build-image test fixture: busybox rootfs', 'LABEL parent=1', 'COPY a.txt /onbuild/ # buildkit', 'ENV FROM_ONBUILD=1', 'COPY b.txt /b.txt # buildkit']);
    const tree = await listTree((await unpackLayout(child.layoutDir)).rootfs, { skip: ['bin'] });
    expect(tree['onbuild']).toEqual(dir());
    expect(tree['onbuild/a.txt']).toEqual(file('from the child context'));
    expect(tree['b.txt']).toEqual(file('B'));
    // A grandchild does not run them again: triggers fire once.
    const grandchild = await buildImage({
      buildContexts: [{ name: 'child', kind: 'oci-layout', dir: child.layoutDir, tag: 'latest' }],
      files: {},
      dockerfile: 'FROM child\nENV G=1\n',
    });
    expect(historyOf((await readLayout(grandchild.layoutDir)).config).slice(-1)).toEqual(['ENV G=1']);
  });
});

describe('the CLI', () => {
  it('build --target with --build-context oci-layout:// to an OCI tar that skopeo and umoci accept', async () => {
    const ctx = await makeTempDir('e2e-cli-ctx-');
    await writeTree(ctx, {
      Dockerfile: 'FROM base AS build\nCOPY app.txt /out/app.txt\nFROM scratch AS final\nCOPY --from=build /out/ /\nCMD ["/app.txt"]\nFROM final AS extra\nCOPY missing /\n',
      'app.txt': 'app',
    });
    const out = path.join(await makeTempDir('e2e-cli-out-'), 'image.tar');
    const cache = await makeTempDir('e2e-cli-cache-');
    const r = await runCli(['build', '--progress', 'json', '--target', 'final', '-t', 'app:1', '--build-context', `base=oci-layout://${busybox.layoutDir}:latest`, '--output', `type=oci,dest=${out}`, '--cache-dir', cache, ctx]);
    expect(r.stderr + r.stdout).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const events = (r.stdout + r.stderr).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const done = events.find((e) => e.type === 'build-done');
    expect(done.steps).toEqual({ run: 2, cached: 0 });
    const inspected = await skopeoInspect(`oci-archive:${out}`);
    expect(inspected.Digest).toBe(done.image.digest);
    expect(inspected.Layers).toHaveLength(1);
    const layout = await extractOciTar(out);
    const { index } = await readLayout(layout);
    expect(index.manifests[0]!.annotations).toMatchObject({ 'io.containerd.image.name': 'docker.io/library/app:1', 'org.opencontainers.image.ref.name': '1' });
    expect(await listTree((await unpackLayout(layout, '1')).rootfs)).toEqual({ 'app.txt': file('app') });
  });
});

describe('reproducibility', () => {
  const dockerfile = 'FROM base\nWORKDIR /app\nCOPY . /app/\nENV V=1\nCOPY --chmod=600 a.txt /secret.txt\n';
  const files: Tree = { 'a.txt': 'A', 'sub/b.txt': 'B', 'sub/c/': { dir: true } };

  it('with SOURCE_DATE_EPOCH: byte-identical manifests from different caches and different (newer) context mtimes', async () => {
    const epoch = 1_700_000_000;
    const one = await buildImage({ buildContexts: [base], files, dockerfile, sourceDateEpoch: epoch });
    const ctx2 = await makeTempDir('e2e-repro-ctx-');
    await writeTree(ctx2, files);
    for (const p of ['a.txt', 'sub/b.txt', 'sub', 'sub/c']) await utimes(path.join(ctx2, p), 1_750_000_000, 1_750_000_000);
    const two = await buildImage({ buildContexts: [base], context: ctx2, dockerfile, sourceDateEpoch: epoch });
    expect(two.cacheDir).not.toBe(one.cacheDir);
    expect(two.result.digest).toBe(one.result.digest);
    const a = await readLayout(one.layoutDir);
    expect(a.config.created).toBe('2023-11-14T22:13:20Z');
    // The base's history keeps its own time (BuildKit #4614); this build's entries get the epoch.
    expect(a.config.history[0].created).toBe(busybox.config.history[0]!.created);
    expect(a.config.history.slice(1).every((h: { created: string }) => h.created === '2023-11-14T22:13:20Z')).toBe(true);
    expect(JSON.stringify(a)).toBe(JSON.stringify(await readLayout(two.layoutDir)));
    // Layer entries newer than the epoch are clamped to it (rewrite-timestamp), so the unpacked
    // files carry the epoch; older ones would keep their own time, as in BuildKit.
    const tree = (await unpackLayout(one.layoutDir)).rootfs;
    const { stat } = await import('node:fs/promises');
    expect((await stat(path.join(tree, 'app/sub/b.txt'))).mtimeMs).toBe(epoch * 1000);
  });

  it('without it: layer digests are stable across rebuilds with the same cache', async () => {
    const cacheDir = await makeTempDir('e2e-repro-cache-');
    const one = await buildImage({ buildContexts: [base], files, dockerfile, cacheDir });
    const two = await buildImage({ buildContexts: [base], context: one.context, dockerfile, cacheDir });
    expect(two.result.cache.run).toBe(0);
    const l1 = (await readLayout(one.layoutDir)).manifest.layers.map((l) => l.digest);
    expect((await readLayout(two.layoutDir)).manifest.layers.map((l) => l.digest)).toEqual(l1);
    // A cached rebuild is the same image: BuildKit takes history times from the layers' creation.
    expect(two.result.digest).toBe(one.result.digest);
  });
});

describe('cache', () => {
  it('unchanged → all cached; one changed file re-runs the COPY reading it, named in the miss; an ignored file changes nothing', async () => {
    const cacheDir = await makeTempDir('e2e-cache-');
    const ctx = await makeTempDir('e2e-cache-ctx-');
    await writeTree(ctx, { 'greeting.txt': 'hello', 'other.txt': 'o', 'ignored.log': 'x', '.dockerignore': '*.log\n' });
    const dockerfile = 'FROM base\nCOPY other.txt /other.txt\nCOPY greeting.txt /greeting.txt\nCOPY . /all/\nENV DONE=1\n';
    const first = await buildImage({ buildContexts: [base], context: ctx, dockerfile, cacheDir });
    expect(first.result.cache).toMatchObject({ run: 3, cached: 0 });

    const again = await buildImage({ buildContexts: [base], context: ctx, dockerfile, cacheDir });
    expect(again.result.cache).toMatchObject({ run: 0, cached: 3 });
    expect(again.result.digest).toBe(first.result.digest);
    expect(stepEvents(again.events).filter((s) => s.name.startsWith('COPY')).every((s) => s.cached)).toBe(true);

    await writeFile(path.join(ctx, 'ignored.log'), 'changed but ignored');
    const ignored = await buildImage({ buildContexts: [base], context: ctx, dockerfile, cacheDir });
    expect(ignored.result.cache).toMatchObject({ run: 0, cached: 3 });

    await writeFile(path.join(ctx, 'greeting.txt'), 'hello, changed');
    const changed = await buildImage({ buildContexts: [base], context: ctx, dockerfile, cacheDir });
    const steps = stepEvents(changed.events);
    const byName = Object.fromEntries(steps.map((s) => [s.name, s]));
    expect(byName['COPY other.txt /other.txt']!.cached).toBe(true);
    expect(byName['COPY greeting.txt /greeting.txt']!.cached).toBe(false);
    expect(byName['COPY greeting.txt /greeting.txt']!.miss!.join('\n')).toMatch(/greeting\.txt.*changed/);
    expect(byName['COPY . /all/']!.cached).toBe(false);
    expect(changed.result.cache).toMatchObject({ run: 2, cached: 1 });
    const tree = await listTree((await unpackLayout(changed.layoutDir)).rootfs, { skip: ['bin'] });
    expect(tree['greeting.txt']).toEqual(file('hello, changed'));
    expect(tree['all/greeting.txt']).toEqual(file('hello, changed'));
    expect(tree['all/ignored.log']).toBeUndefined();
  });
});

describe('parallel stages', () => {
  it('two independent stages copying 2,000 files each run at the same time', async () => {
    const ctx = await makeTempDir('e2e-par-ctx-');
    const tree: Tree = {};
    for (const side of ['left', 'right']) for (let i = 0; i < 2000; i++) tree[`${side}/d${i % 20}/f${i}.txt`] = `${side} ${i}\n`;
    await writeTree(ctx, tree);
    const dockerfile = [
      'FROM scratch AS left',
      'COPY left /left/',
      'FROM scratch AS right',
      'COPY right /right/',
      'FROM scratch',
      'COPY --from=left /left /left/',
      'COPY --from=right /right /right/',
      '',
    ].join('\n');
    const { events, layoutDir } = await buildImage({ context: ctx, dockerfile });
    const steps = stepEvents(events);
    const left = steps.find((s) => s.name === 'COPY left /left/')!;
    const right = steps.find((s) => s.name === 'COPY right /right/')!;
    expect(left.start).toBeDefined();
    expect(right.start).toBeDefined();
    // Overlap: each started before the other finished.
    expect(left.start!).toBeLessThan(right.done!);
    expect(right.start!).toBeLessThan(left.done!);
    const files = await listTree((await unpackLayout(layoutDir)).rootfs);
    expect(Object.values(files).filter((e) => e.type === 'file')).toHaveLength(4000);
    expect(files['right/d7/f1987.txt']).toEqual(file('right 1987\n'));
    expect(existsSync(layoutDir)).toBe(true);
  });
});
