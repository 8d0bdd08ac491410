#!/usr/bin/env node
// Benchmark of packages/cache: blob write/read throughput (against sha256sum and cp over the same
// bytes), index put/get/prune cost per entry, and key framing / miss explanation of a 20,000-file
// source.
//
// Usage: node bench/store-bench.mjs [--mib 256] [--entries 2000]     (from the repository root)
// The package source is bundled with esbuild into a temp dir, so no `tsc -b` is needed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => Number(process.argv[process.argv.indexOf(name) + 1] || dflt) || dflt;
const MIB = arg('--mib', 256);
const ENTRIES = arg('--entries', 2000);
const work = mkdtempSync(path.join(tmpdir(), 'bi-store-bench-'));

try {
  const { build } = await import('esbuild');
  const bundle = path.join(work, 'cache.mjs');
  await build({ entryPoints: [path.join(repo, 'packages/cache/src/index.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', conditions: ['source'], outfile: bundle, logLevel: 'warning' });
  const { ContentStore, CacheIndex, computeCacheKey, explainMiss } = await import(pathToFileURL(bundle).href);
  const ms = (t0) => performance.now() - t0;
  const rate = (bytes, t) => `${((bytes / 2 ** 20) / (t / 1000)).toFixed(0)} MiB/s`;

  // Blobs
  const store = new ContentStore({ root: path.join(work, 'cache') });
  const chunk = Buffer.alloc(1 << 20);
  async function* source() {
    for (let i = 0; i < MIB; i++) {
      chunk.writeUInt32BE(i, 0);
      yield chunk;
    }
  }
  let t0 = performance.now();
  const { digest, size } = await store.put(source());
  const tPut = ms(t0);
  t0 = performance.now();
  for await (const _ of store.get(digest));
  const tGet = ms(t0);
  t0 = performance.now();
  execFileSync('sha256sum', [store.pathOf(digest)]);
  const tSum = ms(t0);
  t0 = performance.now();
  execFileSync('sh', ['-c', `cp "$0" "$1" && sync -f "$1"`, store.pathOf(digest), path.join(work, 'copy')]);
  const tCp = ms(t0);
  console.log(`blob ${MIB} MiB: put ${tPut.toFixed(0)} ms (${rate(size, tPut)}, hash+write+fsync+rename); get+verify ${tGet.toFixed(0)} ms (${rate(size, tGet)})`);
  console.log(`  baselines over the same file: sha256sum ${tSum.toFixed(0)} ms (${rate(size, tSum)}); cp+sync ${tCp.toFixed(0)} ms (${rate(size, tCp)})`);

  await store.delete(digest); // keep the index numbers about the index
  // Index
  const index = new CacheIndex(store);
  const small = await store.putBytes('layer');
  const keys = [];
  t0 = performance.now();
  for (let i = 0; i < ENTRIES; i++) {
    const { key, preimage } = computeCacheKey([{ type: 'op', value: `RUN step ${i}` }, { type: 'parent', value: null }]);
    keys.push(key);
    await index.put(key, { layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: small.digest, size: small.size }] }, preimage, { stepId: `s/${i % 50}` });
  }
  const tIPut = ms(t0);
  t0 = performance.now();
  for (const k of keys) if (!(await index.get(k))) throw new Error('miss');
  const tIGet = ms(t0);
  t0 = performance.now();
  const du = await index.diskUsage();
  const tDu = ms(t0);
  t0 = performance.now();
  const pr = await index.prune({ maxBytes: Math.floor(du.totalBytes / 2) });
  const tPrune = ms(t0);
  console.log(`index ${ENTRIES} entries: put ${(tIPut / ENTRIES).toFixed(2)} ms/entry; get (hit) ${(tIGet / ENTRIES).toFixed(3)} ms/entry; diskUsage ${tDu.toFixed(0)} ms; prune to half ${tPrune.toFixed(0)} ms (removed ${pr.removedEntries.length})`);

  // Keys
  const entries = Array.from({ length: 20_000 }, (_, i) => ({ path: `src/p${i % 200}/f${String(i).padStart(6, '0')}.ts`, hash: `sha256:${String(i).padStart(64, '0')}`, mode: 0o644 }));
  const a = computeCacheKey([{ type: 'files', name: 'source #1', entries }]);
  t0 = performance.now();
  const b = computeCacheKey([{ type: 'files', name: 'source #1', entries: entries.map((e, i) => (i % 1000 ? e : { ...e, hash: 'changed' })) }]);
  const tKey = ms(t0);
  t0 = performance.now();
  const reasons = explainMiss(b.preimage, a.preimage);
  const tExplain = ms(t0);
  console.log(`keys: frame 20,000 files ${tKey.toFixed(1)} ms; explain 20,000-file diff ${tExplain.toFixed(1)} ms (${reasons.length} reasons)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
