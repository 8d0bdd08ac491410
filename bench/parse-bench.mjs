#!/usr/bin/env node
// parse + graph throughput over the real-world Dockerfile corpus, using the compiled parser
// (run `npx tsc -b packages/parser` first). Prints files/s and MB/s for parse alone and parse+graph.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const { parseDockerfile, createBuildGraph } = await import('../packages/parser/dist/index.js');
const dir = resolve(here, '../../shared/conformance/real-world');
const inputs = readdirSync(dir).filter((f) => f.endsWith('.Dockerfile')).sort().map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') }));
const bytes = inputs.reduce((n, i) => n + Buffer.byteLength(i.text), 0);
const rounds = Number(process.env.ROUNDS ?? 20);

function measure(label, fn) {
  for (const i of inputs) { try { fn(i); } catch { /* counted below */ } } // warm-up
  const t0 = process.hrtime.bigint();
  let errors = 0;
  for (let r = 0; r < rounds; r++) for (const i of inputs) {
    try { fn(i); } catch { errors++; }
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const files = inputs.length * rounds;
  console.log(`${label.padEnd(14)} ${(files / s).toFixed(0).padStart(7)} files/s  ${((bytes * rounds) / s / 1e6).toFixed(2).padStart(6)} MB/s  (${files} files, ${errors / rounds} rejected per round, ${s.toFixed(2)} s)`);
}

console.log(`corpus: ${inputs.length} files, ${(bytes / 1024).toFixed(0)} KiB, ${rounds} rounds`);
measure('parse', (i) => parseDockerfile(i.text, { file: i.file }));
measure('parse+graph', (i) => createBuildGraph(i.text, { file: i.file, buildPlatform: 'linux/amd64' }));
