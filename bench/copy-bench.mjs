#!/usr/bin/env node
// COPY of a big context: `FROM busybox` (an OCI layout named context) + `COPY . /app` of the
// 20,000-file (~205 MB) context from /work/shared/bench-cases/gen-bigcontext.sh, exported as an
// OCI tar. Runs the CLI as a child process: cold (empty cache), warm (nothing changed: every step
// cached, the tar written again) and one-file-changed (the COPY re-runs), recording wall time and
// the build process's peak RSS from `/usr/bin/time -v` (falling back to the child's own
// process.resourceUsage().maxRSS when GNU time is missing).
//
// Usage: node bench/copy-bench.mjs [--runs N]      (from the repository root; default 1 round)
// Everything is written under bench/.work/ (git-ignored). Exits 1 when a peak RSS reaches 300 MB.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workDir = path.join(repoRoot, 'bench/.work/copy-bench');
const ctxDir = path.join(repoRoot, 'bench/.work/bigcontext');
const RSS_LIMIT_MB = 300;
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Math.max(1, Number(process.argv[runsArg + 1]) || 1) : 1;
const log = (msg) => process.stderr.write(`copy-bench: ${msg}\n`);

/** Bundles the CLI from the sources (workspace packages inlined, third-party packages external). */
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

/** Writes the child's own peak RSS to fd 3 at exit: the fallback when GNU time is not installed. */
const RSS_HOOK = `data:text/javascript,${encodeURIComponent(
  "import fs from 'node:fs'; process.on('exit', () => { try { fs.writeSync(3, String(process.resourceUsage().maxRSS)); } catch {} });",
)}`;

/**
 * One CLI build as a child process.
 * @returns {Promise<{ ms: number, peakRssMB: number, rssSource: string, events: Array<Record<string, any>> }>}
 */
function cliBuild(cli, args) {
  const gnuTime = existsSync('/usr/bin/time');
  const node = [process.execPath, '--import', RSS_HOOK, cli, 'build', ...args];
  const [cmd, ...argv] = gnuTime ? ['/usr/bin/time', '-v', ...node] : node;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hook = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdio[3].on('data', (c) => (hook += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
      if (code !== 0) return reject(new Error(`build-image build ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}`));
      const timeKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
      const kb = timeKb !== undefined ? Number(timeKb) : Number(hook);
      resolve({ ms, peakRssMB: Math.round(kb / 1024), rssSource: timeKb !== undefined ? '/usr/bin/time -v' : 'process.resourceUsage', events: `${stdout}\n${stderr}`.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) });
    });
  });
}

async function countFiles(dir) {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n++;
  return n;
}

await mkdir(workDir, { recursive: true });
await symlink(path.join(repoRoot, 'node_modules'), path.join(workDir, 'node_modules')).catch(() => {});
log('bundling the CLI');
const cli = await bundleCli();

if (!existsSync(path.join(ctxDir, 'src')) || (await countFiles(ctxDir)) < 20_000) {
  log(`generating the 20,000-file context in ${path.relative(repoRoot, ctxDir)}`);
  await execFileP('bash', ['/work/shared/bench-cases/gen-bigcontext.sh', ctxDir], { maxBuffer: 1 << 20 });
}
const files = await countFiles(ctxDir);

log('building the busybox base (OCI layout)');
const baseCtx = path.join(workDir, 'base');
const baseLayout = path.join(workDir, 'busybox-layout');
await rm(baseCtx, { recursive: true, force: true });
await mkdir(baseCtx, { recursive: true });
await execFileP('bash', [path.join(repoRoot, 'scripts/make-busybox-rootfs.sh'), path.join(baseCtx, 'rootfs')]);
await writeFile(path.join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n');
await rm(baseLayout, { recursive: true, force: true });
await cliBuild(cli, ['--progress', 'quiet', '--cache-dir', path.join(workDir, 'base-cache'), '-t', 'busybox:latest', '--output', `type=oci,dest=${baseLayout},tar=false`, baseCtx]);

// The Dockerfile lives outside the context, so the context is exactly the generated tree.
const dockerfile = path.join(workDir, 'Dockerfile');
await writeFile(dockerfile, 'FROM busybox\nCOPY . /app\n');
const outTar = path.join(workDir, 'out.tar');
const changed = path.join(ctxDir, 'src/mod000/file000.txt');
const original = await readFile(changed);

const rounds = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const cacheDir = path.join(workDir, 'cache');
    await rm(cacheDir, { recursive: true, force: true });
    const args = ['--progress', 'json', '-f', dockerfile, '--cache-dir', cacheDir, '--build-context', `busybox=oci-layout://${baseLayout}:latest`, '--output', `type=oci,dest=${outTar}`, ctxDir];
    const result = {};
    for (const phase of ['cold', 'warm', 'one-file-changed']) {
      if (phase === 'one-file-changed') await writeFile(changed, Buffer.concat([original, Buffer.from('// changed\n')]));
      const b = await cliBuild(cli, args);
      const done = b.events.find((e) => e.type === 'build-done');
      const copy = b.events.find((e) => (e.type === 'step-done' || e.type === 'step-cached') && e.step.name === 'COPY . /app');
      result[phase] = {
        ms: b.ms,
        peakRssMB: b.peakRssMB,
        rssSource: b.rssSource,
        steps: done?.steps,
        copyStepMs: copy?.durationMs ?? 0,
        buildMs: done?.durationMs,
        tarMB: Math.round((await stat(outTar)).size / 2 ** 20),
      };
      log(`round ${r + 1}/${RUNS} ${phase}: ${b.ms} ms, peak RSS ${b.peakRssMB} MB, steps ${JSON.stringify(done?.steps)}`);
      if (phase === 'one-file-changed') await writeFile(changed, original);
    }
    rounds.push(result);
  }
} finally {
  await writeFile(changed, original);
}

const report = { files, contextMB: Math.round(Number((await execFileP('du', ['-sm', ctxDir])).stdout.split('\t')[0])), rounds };
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
const worst = Math.max(...rounds.flatMap((r) => Object.values(r).map((p) => p.peakRssMB)));
if (worst >= RSS_LIMIT_MB) {
  log(`FAIL: peak RSS ${worst} MB is not below ${RSS_LIMIT_MB} MB`);
  process.exit(1);
}
log(`peak RSS at most ${worst} MB (limit ${RSS_LIMIT_MB} MB)`);
