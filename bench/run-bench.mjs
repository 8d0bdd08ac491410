#!/usr/bin/env node
// Per-RUN overhead of build-image: cold builds (fresh cache dir each) of the shared bench cases
// run0 (no RUN), run20 (20 × `RUN true`) and write20 (20 RUNs writing 1 MiB each), with our CLI.
//
//   node bench/run-bench.mjs [--runs N] [--snapshotter overlay|copy|auto] [--json]
//
// Per step: (run20 − run0) / 20 and (write20 − run0) / 20, from the medians. The cases start
// `FROM 127.0.0.1:5000/busybox:1`; here that line becomes `FROM busybox` with
// `--build-context busybox=oci-layout://…:latest`, a busybox base built offline by our CLI from
// scripts/make-busybox-rootfs.sh (no registry, no network). The CLI is bundled from the sources
// with esbuild into bench/.work/run-bench/ so a stale dist/ never gets measured.
//
// As a module: `import { runBench } from './bench/run-bench.mjs'` → the same object `--json` prints.
import { execFile, spawn } from 'node:child_process';
import { measureRuntimeFloor } from './lib/runtime-floor.mjs';
import { median } from './lib/stats.mjs';
import { mkdir, readFile, rm, symlink, writeFile, cp } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const casesRoot = path.resolve(repoRoot, '../shared/bench-cases');
const workDir = path.join(repoRoot, 'bench/.work/run-bench');
export const CASES = ['run0', 'run20', 'write20'];
const STEPS = 20;

/** Bundles the CLI (workspace packages from source, third-party packages external). */
async function bundleCli() {
  const out = path.join(workDir, 'build-image.mjs');
  const pkg = JSON.parse(await readFile(path.join(repoRoot, 'packages/builder/package.json'), 'utf8'));
  const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !d.startsWith('@build-image/'));
  await execFileP(path.join(repoRoot, 'node_modules/.bin/esbuild'), [
    path.join(repoRoot, 'packages/builder/src/cli/main.ts'),
    '--bundle', '--platform=node', '--format=esm', '--target=node20', '--conditions=source', '--log-level=error',
    `--outfile=${out}`,
    ...external.map((d) => `--external:${d}`),
  ], { cwd: repoRoot });
  return out;
}

/** Runs one CLI build and returns its wall time in ms (spawn to exit, like `time`). */
function timedBuild(cli, args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [cli, 'build', '--progress', 'quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`build-image ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`));
      else resolve(ms);
    });
  });
}

/**
 * Times cold builds of run0/run20/write20 and derives the per-RUN overhead.
 * @param {{ runs?: number, snapshotter?: 'auto'|'overlay'|'copy', log?: (msg: string) => void }} [options]
 * @returns {Promise<{ tool: 'build-image', snapshotter: string, runs: number, cases: Record<string, { ms: number[], medianMs: number }>, perStepMs: { runTrue: number, write1MiB: number } }>}
 */
export async function runBench(options = {}) {
  const runs = options.runs ?? 3;
  const snapshotter = options.snapshotter ?? 'auto';
  const log = options.log ?? (() => {});
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  await symlink(path.join(repoRoot, 'node_modules'), path.join(workDir, 'node_modules')).catch(() => {});
  log('bundling the CLI');
  const cli = await bundleCli();

  log('building the busybox base (oci layout)');
  const baseCtx = path.join(workDir, 'base');
  await mkdir(baseCtx, { recursive: true });
  await execFileP('bash', [path.join(repoRoot, 'scripts/make-busybox-rootfs.sh'), path.join(baseCtx, 'rootfs')]);
  await writeFile(path.join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n');
  const baseLayout = path.join(workDir, 'busybox-layout');
  await timedBuild(cli, ['--cache-dir', path.join(workDir, 'base-cache'), '-t', 'busybox:latest', '--output', `type=oci,dest=${baseLayout},tar=false`, baseCtx]);

  const cases = {};
  for (const name of CASES) {
    const ctx = path.join(workDir, 'cases', name);
    await cp(path.join(casesRoot, name), ctx, { recursive: true });
    const text = await readFile(path.join(ctx, 'Dockerfile'), 'utf8');
    await rm(path.join(ctx, 'Dockerfile'), { force: true });
    await writeFile(path.join(ctx, 'Dockerfile'), text.replace(/^FROM 127\.0\.0\.1:5000\/busybox:1$/m, 'FROM busybox'));
    cases[name] = { ms: [], medianMs: 0 };
  }
  await mkdir(path.join(workDir, 'out'), { recursive: true });
  // Interleave the cases round by round so drifting machine load hits them alike.
  for (let r = 0; r < runs; r++) {
    for (const name of CASES) {
      const cacheDir = path.join(workDir, 'cache', `${name}-${r}`);
      const ms = await timedBuild(cli, [
        '--cache-dir', cacheDir,
        '--snapshotter', snapshotter,
        '--build-context', `busybox=oci-layout://${baseLayout}:latest`,
        '--output', `type=oci,dest=${path.join(workDir, 'out', `${name}-${r}.tar`)}`,
        path.join(workDir, 'cases', name),
      ]);
      cases[name].ms.push(Math.round(ms));
      log(`${name} run ${r + 1}/${runs}: ${Math.round(ms)} ms`);
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
  for (const c of Object.values(cases)) c.medianMs = median(c.ms);
  const per = (name) => Math.round(((cases[name].medianMs - cases.run0.medianMs) / STEPS) * 10) / 10;
  const perStepMs = { runTrue: per('run20'), write1MiB: per('write20') };
  // What runc alone costs for the same commands (as root: it mounts an overlay), and what the engine adds on top.
  let floorMs;
  let engineMs;
  if (process.getuid?.() === 0) {
    log('measuring the runtime floor (bare runc run)');
    floorMs = (await measureRuntimeFloor({ repoRoot, rootfs: path.join(baseCtx, 'rootfs'), workDir })).ms;
    engineMs = Object.fromEntries(Object.entries(perStepMs).map(([k, v]) => [k, Math.round((v - floorMs[k]) * 10) / 10]));
  }
  return { tool: 'build-image', snapshotter, runs, cases, perStepMs, ...(floorMs ? { floorMs, engineMs } : {}) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, snapshotter: { type: 'string', default: 'auto' }, json: { type: 'boolean', default: false } } });
  const result = await runBench({ runs: Number(values.runs), snapshotter: values.snapshotter, log: (m) => process.stderr.write(`[run-bench] ${m}\n`) });
  if (values.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    for (const [name, c] of Object.entries(result.cases)) process.stdout.write(`${name.padEnd(8)} median ${c.medianMs} ms  (${c.ms.join(', ')})\n`);
    process.stdout.write(`per RUN true:       ${result.perStepMs.runTrue} ms/step\n`);
    process.stdout.write(`per RUN 1 MiB write: ${result.perStepMs.write1MiB} ms/step\n`);
    if (result.floorMs) {
      process.stdout.write(`runtime floor (bare runc run): RUN true ${result.floorMs.runTrue} ms, 1 MiB write ${result.floorMs.write1MiB} ms\n`);
      process.stdout.write(`engine overhead (per step − floor): RUN true ${result.engineMs.runTrue} ms, 1 MiB write ${result.engineMs.write1MiB} ms\n`);
    }
  }
}
