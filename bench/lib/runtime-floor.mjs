// The runtime floor of a RUN step: what `runc run` alone costs for the same command on the same
// root filesystem, with no build engine around it. BuildKit, Buildah and build-image all run
// each RUN through this machine's runc, so a step can never be cheaper than this; the rest of a
// step's time is what the engine adds. Measuring it in the same run as the builds lets the
// report split each tool's per-step time into "runc + the command" and "engine overhead".
//
// The bundle: an overlay over the busybox rootfs (as a real step's rootfs), with the spec
// build-image generates (Docker's capabilities, /proc, /dev, /sys, cgroup, hosts, resolv.conf).
// The loop runs in bash, timing each `runc run` with $EPOCHREALTIME, so no Node fork (4-9 ms
// at a builder's RSS) is counted in the floor.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { median } from './stats.mjs';

const execFileP = promisify(execFile);

/** The commands of the bench cases' RUN steps (run20, write20), as BuildKit runs them. */
export const FLOOR_COMMANDS = {
  runTrue: ['/bin/sh', '-c', 'true'],
  write1MiB: ['/bin/sh', '-c', 'head -c 1048576 /dev/urandom > /w1.bin'],
};

/**
 * Median ms of `runc run` per command over `runs` runs (after 2 warm-up runs each).
 * @param {{ repoRoot: string, rootfs: string, workDir: string, runs?: number, runc?: string }} options
 * @returns {Promise<{ runs: number, ms: Record<string, number> }>}
 */
export async function measureRuntimeFloor({ repoRoot, rootfs, workDir, runs = 20, runc = 'runc' }) {
  const dir = path.join(workDir, 'runtime-floor');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // The spec generator from the sources (never a stale dist), bundled on its own.
  const specModule = path.join(dir, 'spec.mjs');
  await execFileP(path.join(repoRoot, 'node_modules/.bin/esbuild'), [
    path.join(repoRoot, 'packages/builder/src/executor/spec.ts'),
    '--bundle', '--platform=node', '--format=esm', '--target=node20', '--conditions=source', '--log-level=error', `--outfile=${specModule}`,
  ]);
  const { buildRuntimeSpec } = await import(specModule);
  const [upper, work, merged, state] = ['upper', 'work', 'merged', 'state'].map((d) => path.join(dir, d));
  for (const d of [upper, work, merged, state]) await mkdir(d, { recursive: true });
  await writeFile(path.join(dir, 'hosts'), '127.0.0.1\tlocalhost buildkitsandbox\n');
  await writeFile(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${rootfs},upperdir=${upper},workdir=${work},redirect_dir=off,index=off,metacopy=off`, merged]);
  const ms = {};
  try {
    for (const [name, args] of Object.entries(FLOOR_COMMANDS)) {
      const bundle = path.join(dir, `bundle-${name}`);
      await mkdir(bundle, { recursive: true });
      const spec = buildRuntimeSpec({
        rootfs: merged,
        args,
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [0] },
        network: 'host',
        hostsPath: path.join(dir, 'hosts'),
        resolvConfPath: path.join(dir, 'resolv.conf'),
        mounts: [],
      });
      await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
      const script = `
        for i in $(seq 1 $((RUNS + 2))); do
          s=$EPOCHREALTIME
          "$RUNC" --root "$STATE" run --bundle "$BUNDLE" "floor-$i" >/dev/null 2>&1 || { echo "runc run failed" >&2; exit 1; }
          e=$EPOCHREALTIME
          [ "$i" -gt 2 ] && echo "$s $e"
        done`;
      const { stdout } = await execFileP('bash', ['-c', script], { env: { ...process.env, RUNS: String(runs), RUNC: runc, STATE: state, BUNDLE: bundle } });
      const times = stdout.trim().split('\n').map((l) => {
        const [s, e] = l.split(' ').map(Number);
        return (e - s) * 1000;
      });
      ms[name] = Math.round(median(times) * 10) / 10;
    }
  } finally {
    await execFileP('umount', [merged]).catch(() => execFileP('umount', ['-l', merged]));
    await rm(dir, { recursive: true, force: true });
  }
  return { runs, ms };
}
