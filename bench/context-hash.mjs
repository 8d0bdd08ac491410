#!/usr/bin/env node
// Benchmark of the build-context loader: cold and warm hashing of the 20,000-file / ~200 MB
// context from /work/shared/bench-cases/gen-bigcontext.sh, against sha256sum over the same files.
//
// Usage: node bench/context-hash.mjs [--runs N]     (from the repository root)
// The source (packages/builder/src/context) is bundled with esbuild into bench/.work/ first, so
// the bench runs on Node 20 without a full `tsc -b` of the builder package.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = path.join(repo, 'bench/.work');
const ctxDir = path.join(work, 'bigcontext');
const cacheRoot = path.join(work, 'context-cache');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 3) || 3;
mkdirSync(work, { recursive: true });

const { build } = await import('esbuild');
const bundle = path.join(work, 'context-bundle.mjs');
await build({
  entryPoints: [path.join(repo, 'packages/builder/src/context/index.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['source'],
  outfile: bundle,
  logLevel: 'warning',
});
const { loadContext, selectSources, hashSelection, StatCache } = await import(pathToFileURL(bundle).href);

if (!existsSync(path.join(ctxDir, 'src'))) {
  mkdirSync(ctxDir, { recursive: true });
  execFileSync('bash', ['/work/shared/bench-cases/gen-bigcontext.sh', ctxDir], { stdio: 'inherit' });
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

function sha256sumRun() {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', 'find . -type f -print0 | sort -z | xargs -0 sha256sum > /dev/null'], { cwd: ctxDir });
  if (r.status !== 0) throw new Error(`sha256sum failed: ${r.stderr}`);
  return ms(t0);
}

async function hashRun() {
  const t0 = process.hrtime.bigint();
  let reads = 0;
  let bytes = 0;
  const sc = await StatCache.load(cacheRoot, ctxDir);
  const tLoad = ms(t0);
  const ctx = await loadContext(ctxDir, { patterns: [] });
  const tWalk = ms(t0);
  const sel = selectSources(ctx, { sources: ['.'] });
  const h = await hashSelection(sel, {
    statCache: sc,
    onRead: (p) => {
      reads++;
      bytes += ctx.byPath.get(p).size;
    },
  });
  const tHash = ms(t0);
  await sc.save();
  const total = ms(t0);
  return { total, tLoad, tWalk, tHash, reads, bytes, files: h.files.filter((f) => !f.copyPath.endsWith('/')).length, digest: h.digest };
}

const results = { sha256sum: [], cold: [], warm: [] };
for (let i = 0; i < runs; i++) {
  results.sha256sum.push(sha256sumRun());
  rmSync(cacheRoot, { recursive: true, force: true });
  results.cold.push(await hashRun());
  // Let the stat cache's second pass so nothing is racily clean (files were generated earlier).
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
  results.warm.push(await hashRun());
}
const best = (xs, f = (x) => x) => Math.min(...xs.map(f));
const cold = results.cold.reduce((a, b) => (a.total < b.total ? a : b));
const warm = results.warm.reduce((a, b) => (a.total < b.total ? a : b));
const ref = best(results.sha256sum);
if (results.cold.some((c) => c.digest !== cold.digest) || warm.digest !== cold.digest) throw new Error('digests differ between runs');
const mb = cold.bytes / 1e6;
const report = {
  context: ctxDir,
  files: cold.reads,
  megabytes: Number(mb.toFixed(1)),
  runs,
  sha256sumMs: Math.round(ref),
  cold: {
    ms: Math.round(cold.total),
    walkMs: Math.round(cold.tWalk - cold.tLoad),
    hashMs: Math.round(cold.tHash - cold.tWalk),
    filesPerSec: Math.round(cold.reads / (cold.total / 1000)),
    mbPerSec: Number((mb / (cold.total / 1000)).toFixed(1)),
    ratioToSha256sum: Number((cold.total / ref).toFixed(2)),
  },
  warm: {
    ms: Math.round(warm.total),
    statCacheLoadMs: Math.round(warm.tLoad),
    walkMs: Math.round(warm.tWalk - warm.tLoad),
    hashMs: Math.round(warm.tHash - warm.tWalk),
    reads: warm.reads,
  },
  maxRssMB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  digest: cold.digest,
};
console.log(JSON.stringify(report, null, 2));
