// The benchmark cases of /work/shared/bench-cases and how the harness prepares and edits them.
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './proc.mjs';

/** Case name → the file only the last COPY reads (the "edit" phase changes it). */
export const CASES = {
  hello: 'greeting.txt',
  multistage: 'src/main.sh',
  bigcontext: 'src/mod000/file000.txt',
  deps: 'src/index.js',
  run0: 'marker.txt',
  run20: 'marker.txt',
  write20: 'marker.txt',
};

/** Where the shared cases live (read in place, never copied into the project). */
export function casesRoot(repoRoot) {
  return path.resolve(repoRoot, '../shared/bench-cases');
}

/**
 * Copies case `name` into `workDir/<name>` (bigcontext: plus its generated 20,000 files) and
 * returns {name, dir, editFile, original}: `original` is the edit file's content, restored before
 * every cold build so each tool starts from the same bytes.
 */
export async function prepareCase(repoRoot, workDir, name, log) {
  const src = path.join(casesRoot(repoRoot), name);
  const dir = path.join(workDir, name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  await cp(src, dir, { recursive: true });
  // The shared tree is read-only; the copy must be writable for the edits.
  await run('chmod', ['-R', 'u+w', dir]);
  if (name === 'bigcontext') {
    await run('bash', [path.join(casesRoot(repoRoot), 'gen-bigcontext.sh'), dir], { log, timeoutMs: 300_000 });
  }
  const editFile = path.join(dir, CASES[name]);
  return { name, dir, editFile, original: await readFile(editFile) };
}

/** Puts the edit file back to its original bytes (before a cold build). */
export async function restoreCase(c) {
  await writeFile(c.editFile, c.original);
}

/** Changes the edit file (a new trailing line, unique per tool and run), as a developer would. */
export async function editCase(c, tag) {
  const comment = c.editFile.endsWith('.js') ? '//' : '#';
  await writeFile(c.editFile, Buffer.concat([c.original, Buffer.from(`\n${comment} edited ${tag}\n`)]));
}
