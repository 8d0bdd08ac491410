#!/usr/bin/env node
// build-image vs BuildKit (`docker build` on a private dockerd) vs Buildah (`bud --layers`), side
// by side in one run, on the cases of /work/shared/bench-cases. See bench/README.md, "Comparison".
//
//   node bench/compare.mjs [--cases hello,multistage,...] [--runs N] [--tools ours,buildkit,buildah]
//                          [--timeout SECONDS] [--no-compile]
//
// Per case and run, each tool in turn: wipe every cache → cold build → warm no-op rebuild →
// rebuild after editing the file only the last COPY reads. Medians, ratios ours/BuildKit and
// ours/Buildah, peak RSS and per-RUN overhead go to bench/results/<date>.md and .json.
import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CASES, editCase, prepareCase, restoreCase } from './lib/cases.mjs';
import { run } from './lib/proc.mjs';
import { checks, markdown, perRun, summarize } from './lib/report.mjs';
import { measureRuntimeFloor } from './lib/runtime-floor.mjs';
import { BENCH_ROOT, REGISTRY_HOST, ensureRegistry } from './lib/services.mjs';
import { buildah, buildkit, ours } from './lib/tools.mjs';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: argv } = parseArgs({
  options: {
    cases: { type: 'string', default: Object.keys(CASES).join(',') },
    runs: { type: 'string', default: '3' },
    tools: { type: 'string', default: 'ours,buildkit,buildah' },
    timeout: { type: 'string', default: '900' },
    'no-compile': { type: 'boolean', default: false },
  },
});
const caseNames = argv.cases.split(',').filter(Boolean);
for (const c of caseNames) if (!(c in CASES)) throw new Error(`unknown case ${c}; known: ${Object.keys(CASES).join(', ')}`);
const runs = Number(argv.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a positive integer, got ${argv.runs}`);
const timeoutMs = Number(argv.timeout) * 1000;

const workDir = path.join(repoRoot, 'bench/.work/compare');
const caseDir = path.join(workDir, 'cases');
const outDir = path.join(workDir, 'out');
const logDir = path.join(workDir, 'logs');
const say = (msg) => process.stderr.write(`[compare] ${msg}\n`);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

/** Builds our CLI and pushes the shared base image 127.0.0.1:5000/busybox:1 with it. */
async function prepareBase(log) {
  if (!argv['no-compile']) {
    // `npm run build`, not just tsc: the CLI that runs is the esbuild bundle at dist/cli/main.js,
    // which tsc leaves alone (a bench of a stale bundle measured the previous tree).
    say('npm run build');
    try {
      await run('npm', ['run', 'build'], { cwd: repoRoot, log, timeoutMs: 600_000 });
    } catch (err) {
      // Others edit the tree while this runs: a transient type error must not stop the bench if a dist exists.
      say(`tsc failed, using the existing dist (see ${log}):\n${err.tail}`);
    }
  }
  const base = path.join(workDir, 'busybox-base');
  await rm(base, { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  await run('bash', [path.join(repoRoot, 'scripts/make-busybox-rootfs.sh'), path.join(base, 'rootfs')], { log });
  await writeFile(path.join(base, 'Dockerfile'), 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n');
  say(`pushing ${REGISTRY_HOST}/busybox:1 (busybox-static, built with build-image)`);
  await run(
    process.execPath,
    [
      path.join(repoRoot, 'packages/builder/dist/cli/main.js'), 'build', '--progress', 'plain',
      '--cache-dir', path.join(BENCH_ROOT, 'base-cache'),
      '--insecure-registry', REGISTRY_HOST,
      '--output', `type=registry,name=${REGISTRY_HOST}/busybox:1`,
      base,
    ],
    { log, timeoutMs: 300_000 },
  );
}

function gitDescribe() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes under packages/` : head;
  } catch {
    return 'unknown';
  }
}

async function main() {
  await rm(logDir, { recursive: true, force: true });
  await mkdir(logDir, { recursive: true });
  await mkdir(outDir, { recursive: true });
  await mkdir(BENCH_ROOT, { recursive: true });
  const setupLog = path.join(logDir, 'setup.log');
  const loadBefore = load();
  const errors = [];
  const versions = {};
  const results = {};
  const tools = [];
  /** The runtime floor, measured before and after the cases (see lib/runtime-floor.mjs). */
  const floorSamples = [];
  let registry;
  const all = { ours, buildkit, buildah };
  const wanted = argv.tools.split(',').filter(Boolean);
  try {
    registry = await ensureRegistry();
    say(registry.started ? `registry started on ${REGISTRY_HOST}` : `reusing the registry on ${REGISTRY_HOST}`);
    await prepareBase(setupLog);
    for (const name of wanted) {
      if (!all[name]) throw new Error(`unknown tool ${name}; known: ${Object.keys(all).join(', ')}`);
      const tool = all[name]({ repoRoot, outDir, logDir, timeoutMs });
      say(`setting up ${tool.label}`);
      try {
        await tool.setup();
        versions[name] = await tool.version();
        tools.push(tool);
      } catch (err) {
        say(`SKIPPING ${tool.label}: ${err.message}\n${err.tail ?? ''}`);
        errors.push({ where: `${tool.label} setup (skipped)`, message: err.message, tail: err.tail ?? '' });
        await tool.teardown().catch(() => {});
      }
    }
    if (!tools.some((t) => t.name === 'ours')) throw new Error('build-image itself cannot build; nothing to compare');
    const wantsFloor = caseNames.includes('run20') || caseNames.includes('write20');
    const measureFloor = async () => {
      const f = await measureRuntimeFloor({ repoRoot, rootfs: path.join(workDir, 'busybox-base', 'rootfs'), workDir: BENCH_ROOT });
      floorSamples.push(f);
      say(`runtime floor (bare runc run): RUN true ${f.ms.runTrue} ms, 1 MiB write ${f.ms.write1MiB} ms`);
    };
    if (wantsFloor) await measureFloor();

    for (const name of caseNames) {
      say(`case ${name}: preparing`);
      const c = await prepareCase(repoRoot, caseDir, name, setupLog);
      results[name] = {};
      const broken = new Set();
      for (let r = 1; r <= runs; r++) {
        for (const tool of tools) {
          if (broken.has(tool.name)) continue;
          const slot = (results[name][tool.name] ??= { runs: [] });
          const got = {};
          slot.runs.push(got);
          let phase = 'wipe';
          try {
            await restoreCase(c);
            await tool.wipe(c);
            for (phase of ['cold', 'warm', 'edit']) {
              if (phase === 'edit') await editCase(c, `${tool.name}-${r}`);
              got[phase] = await tool.build(c, phase);
              say(`${name} run ${r} ${tool.name} ${phase}: ${(got[phase].ms / 1000).toFixed(2)} s, ${Math.round((got[phase].maxRssKb ?? 0) / 1024)} MiB`);
            }
          } catch (err) {
            // One broken cell must not cost the rest of the table: record the real error, skip this tool for this case.
            broken.add(tool.name);
            say(`${name} ${tool.name} ${phase} FAILED: ${err.message}\n${err.tail ?? ''}`);
            errors.push({ where: `${name} / ${tool.label} / ${phase} (run ${r})`, message: err.message, tail: err.tail ?? err.stack ?? '' });
          }
        }
      }
      if (name === 'bigcontext') await rm(c.dir, { recursive: true, force: true });
    }
    if (wantsFloor) await measureFloor();
  } finally {
    for (const t of [...tools].reverse()) await t.teardown().catch((e) => say(`teardown ${t.name}: ${e.message}`));
    if (registry) await registry.stop().catch((e) => say(`registry stop: ${e.message}`));
  }

  const toolNames = tools.map((t) => t.name);
  const summary = summarize(results, caseNames, toolNames);
  const perRunMs = perRun(summary, toolNames);
  const mean = (key) => Math.round((floorSamples.reduce((n, f) => n + f.ms[key], 0) / floorSamples.length) * 10) / 10;
  const floor = floorSamples.length ? { runs: floorSamples[0].runs, samples: floorSamples, ms: { runTrue: mean('runTrue'), write1MiB: mean('write1MiB') } } : undefined;
  const checkLines = checks(results, caseNames, toolNames);
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '');
  const meta = {
    date,
    host: `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, node ${process.version}`,
    loadBefore,
    loadAfter: load(),
    commit: gitDescribe(),
    runs,
    versions,
  };
  const labels = Object.fromEntries(tools.map((t) => [t.name, t.label]));
  const rssNotes = Object.fromEntries(tools.map((t) => [t.name, t.rssNote]));
  const md = markdown({ meta, summary, perRunMs, floor, checkLines, errors, cases: caseNames, tools: toolNames, labels, rssNotes });
  const resultsDir = path.join(repoRoot, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, `${date}.md`), md);
  await writeFile(path.join(resultsDir, `${date}.json`), JSON.stringify({ meta, rssNotes, summary, perRunMs, floor, checks: checkLines, errors, results }, null, 2) + '\n');
  process.stdout.write(md);
  say(`written bench/results/${date}.md and .json; logs in ${path.relative(repoRoot, logDir)}`);
}

main().catch((err) => {
  say(`failed: ${err.stack ?? err.message}${err.tail ? `\n${err.tail}` : ''}`);
  process.exitCode = 1;
});
