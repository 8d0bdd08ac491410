// The three builders under comparison, behind one small interface:
//   setup() (throws → the tool is skipped with that message), wipe(case) (every cache gone),
//   build(case, phase) → {ms, maxRssKb, rssNote, imageId}, teardown().
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { memoryOf, quiet, resetPeak, run } from './proc.mjs';
import { BENCH_ROOT, REGISTRY_HOST, dockerEnv, startDockerd } from './services.mjs';

const WARMUP_DOCKERFILE = `FROM ${REGISTRY_HOST}/busybox:1\nRUN true\n`;

async function warmupContext() {
  const dir = path.join(BENCH_ROOT, 'warmup');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Dockerfile'), WARMUP_DOCKERFILE);
  return dir;
}

async function readId(file) {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Unmounts whatever is still mounted below `dir` (deepest first), so it can be removed. */
async function unmountBelow(dir) {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p) => p && (p === dir || p.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await quiet('umount', ['-l', p], { mayFail: true });
}

/** build-image: our CLI, one process per build, `--output type=oci` into the work dir. */
export function ours({ repoRoot, outDir, logDir, timeoutMs }) {
  const cli = path.join(repoRoot, 'packages/builder/dist/cli/main.js');
  const cacheDir = path.join(BENCH_ROOT, 'ours-cache');
  const build = async (c, phase, ctx = c.dir, tag = c.name) => {
    const iid = path.join(outDir, `ours-${tag}.iid`);
    await rm(iid, { force: true });
    const r = await run(
      process.execPath,
      [
        cli, 'build',
        '--progress', 'plain',
        '--cache-dir', cacheDir,
        '--insecure-registry', REGISTRY_HOST,
        '--network', 'host',
        '--iidfile', iid,
        '-t', `bench-${tag}:latest`,
        '--output', `type=oci,dest=${path.join(outDir, `ours-${tag}.tar`)}`,
        ctx,
      ],
      { log: path.join(logDir, `ours-${tag}.log`), rss: true, timeoutMs },
    );
    return { ms: r.ms, maxRssKb: r.maxRssKb, imageId: await readId(iid) };
  };
  return {
    name: 'ours',
    label: 'build-image',
    rssNote: 'peak RSS of the CLI process (GNU time %M: largest process of the tree, the node CLI)',
    async setup() {
      if (!existsSync(cli)) throw new Error(`${cli} missing: run npm run build`);
      await rm(cacheDir, { recursive: true, force: true });
      await build({ name: 'warmup' }, 'warmup', await warmupContext(), 'warmup');
    },
    async wipe() {
      await rm(cacheDir, { recursive: true, force: true });
    },
    build,
    async version() {
      return 'dist of this tree';
    },
    async teardown() {},
  };
}

/** BuildKit inside a private dockerd (Debian docker.io 20.10), driven by the Debian client. */
export function buildkit({ logDir, timeoutMs }) {
  const docker = '/usr/bin/docker';
  const env = dockerEnv();
  let daemon;
  let peakResets = true;
  const log = (name) => path.join(logDir, `buildkit-${name}.log`);
  const build = async (c, phase, ctx = c.dir, tag = c.name) => {
    const iid = path.join(BENCH_ROOT, `buildkit-${tag}.iid`);
    await rm(iid, { force: true });
    peakResets = (await resetPeak(daemon.pid)) && peakResets;
    const before = await memoryOf(daemon.pid);
    const r = await run(docker, ['build', '--network=host', '--progress=plain', '--iidfile', iid, '-t', `bench-${tag}:latest`, ctx], {
      env,
      log: log(tag),
      timeoutMs,
    });
    const after = await memoryOf(daemon.pid);
    return { ms: r.ms, maxRssKb: after.hwmKb, rssDeltaKb: after.hwmKb - before.rssKb, imageId: await readId(iid) };
  };
  return {
    name: 'buildkit',
    label: 'BuildKit (docker build)',
    get rssNote() {
      return peakResets
        ? "dockerd's VmHWM, reset before every build (echo 5 > /proc/PID/clear_refs): peak of the daemon during that build, including its idle baseline"
        : "dockerd's VmHWM since daemon start (the kernel refused to reset it)";
    },
    async setup() {
      if (!existsSync(docker) || !existsSync('/usr/sbin/dockerd')) throw new Error('docker.io not installed: run bench/setup-competitors.sh');
      await unmountBelow(path.join(BENCH_ROOT, 'docker'));
      await unmountBelow(path.join(BENCH_ROOT, 'exec'));
      await rm(path.join(BENCH_ROOT, 'docker'), { recursive: true, force: true });
      await rm(path.join(BENCH_ROOT, 'exec'), { recursive: true, force: true });
      daemon = await startDockerd();
      await build({ name: 'warmup' }, 'warmup', await warmupContext(), 'warmup');
    },
    async wipe(c) {
      await quiet(docker, ['image', 'rm', '-f', `bench-${c.name}:latest`], { env, log: log('wipe'), mayFail: true });
      await quiet(docker, ['image', 'prune', '-af'], { env, log: log('wipe') });
      await quiet(docker, ['builder', 'prune', '-af'], { env, log: log('wipe') });
    },
    build,
    async version() {
      const v = execFileSync(docker, ['version', '--format', '{{.Server.Version}}'], { env, encoding: 'utf8' }).trim();
      return `dockerd ${v}`;
    },
    async teardown() {
      if (daemon) await daemon.stop();
      daemon = undefined;
    },
  };
}

/** Buildah `bud --layers` with its own storage root under /tmp/bi-bench (overlay, else vfs). */
export function buildah({ logDir, timeoutMs }) {
  const bin = '/usr/bin/buildah';
  // Debian's buildah defaults to crun, which refuses this machine's hybrid cgroup v1/v2 layout
  // ("cgroups in hybrid mode not supported"); runc is what dockerd and build-image use too.
  const RUNC = '/usr/sbin/runc';
  const root = path.join(BENCH_ROOT, 'buildah');
  let driver = 'overlay';
  const global = () => ['--root', path.join(root, 'root'), '--runroot', path.join(root, 'run'), '--storage-driver', driver];
  const log = (name) => path.join(logDir, `buildah-${name}.log`);
  const build = async (c, phase, ctx = c.dir, tag = c.name) => {
    const iid = path.join(BENCH_ROOT, `buildah-${tag}.iid`);
    await rm(iid, { force: true });
    const r = await run(
      bin,
      [...global(), 'bud', '--layers', '--runtime', RUNC, '--tls-verify=false', '--network', 'host', '--iidfile', iid, '-t', `bench-${tag}:latest`, ctx],
      { log: log(tag), rss: true, timeoutMs },
    );
    return { ms: r.ms, maxRssKb: r.maxRssKb, imageId: await readId(iid) };
  };
  const fresh = async () => {
    await unmountBelow(root);
    await rm(root, { recursive: true, force: true });
  };
  return {
    name: 'buildah',
    label: 'Buildah (bud --layers)',
    rssNote: 'peak RSS of the buildah process (GNU time %M)',
    async setup() {
      if (!existsSync(bin)) throw new Error('buildah not installed: run bench/setup-competitors.sh');
      const ctx = await warmupContext();
      const errors = [];
      for (const d of ['overlay', 'vfs']) {
        driver = d;
        await fresh();
        try {
          await build({ name: 'warmup' }, 'warmup', ctx, 'warmup');
          this.driver = d;
          return;
        } catch (err) {
          errors.push(`${d}: ${err.message}\n${err.tail ?? ''}`);
        }
      }
      throw new Error(`buildah cannot build here:\n${errors.join('\n')}`);
    },
    async wipe() {
      await quiet(bin, [...global(), 'rm', '--all'], { log: log('wipe'), mayFail: true });
      await quiet(bin, [...global(), 'rmi', '--all', '--force'], { log: log('wipe'), mayFail: true });
    },
    build,
    async version() {
      const v = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
      return `${v}, --storage-driver ${driver}`;
    },
    async teardown() {
      await quiet(bin, [...global(), 'rm', '--all'], { log: log('wipe'), mayFail: true });
      await unmountBelow(root);
    },
  };
}
