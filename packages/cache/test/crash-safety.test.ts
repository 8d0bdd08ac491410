/**
 * Crash safety and multi-process writers, with real child processes writing into one store.
 * The children run the store's own source, bundled by esbuild into the test's temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, type Digest } from '../src/index.js';
import { CACHE_SRC, FIXTURES, useTempDirs } from './helpers.js';

const tempDir = useTempDirs();
let bundle: string;
let blobChunks: (seed: string, count: number, size: number) => AsyncGenerator<Buffer>;

beforeAll(async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'bi-cache-bundle-'));
  bundle = join(dir, 'cache.mjs');
  await build({ entryPoints: [CACHE_SRC], bundle: true, platform: 'node', format: 'esm', target: 'node20', conditions: ['source'], outfile: bundle, logLevel: 'silent' });
  ({ blobChunks } = await import(pathToFileURL(join(FIXTURES, 'blob-source.mjs')).href));
});
afterAll(async () => {
  const { rm } = await import('node:fs/promises');
  if (bundle) await rm(join(bundle, '..'), { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pred: (line: string) => boolean): Promise<string>;
}

function startWriter(root: string, specs: string[]): Child {
  const proc = spawn(process.execPath, [join(FIXTURES, 'writer-child.mjs'), bundle, root, ...specs], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
  let buf = '';
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.splice(0)) (w.pred(line) ? w.resolve(line) : waiters.push(w));
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      if (code) console.error(stderr);
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    lines,
    exited,
    waitFor: (pred) =>
      new Promise((resolve, reject) => {
        const hit = lines.find(pred);
        if (hit) return resolve(hit);
        waiters.push({ pred, resolve });
        void exited.then(() => reject(new Error(`writer exited before the expected output; stderr: ${stderr}`)));
      }),
  };
}

async function digestOfChunks(seed: string, count: number, size: number): Promise<Digest> {
  const h = createHash('sha256');
  for await (const c of blobChunks(seed, count, size)) h.update(c);
  return `sha256:${h.digest('hex')}` as Digest;
}

async function sha256OfStream(s: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of s) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

describe('crash safety', () => {
  it('a writer SIGKILLed mid-blob leaves nothing under the digest; the next write succeeds', async () => {
    const root = await tempDir();
    const MiB = 1024 * 1024;
    const count = 200; // 200 MiB, 1 MiB chunks, 5 ms apart: about a second of writing
    const expected = await digestOfChunks('big', count, MiB);
    const child = startWriter(root, [`big:${count}:${MiB}:5`]);
    // Kill once at least 48 MiB are on their way to disk.
    const line = await child.waitFor((l) => l.startsWith('progress big') && Number(l.split(' ')[2]) >= 48 * MiB);
    const rss = Number(line.split(' ')[3]);
    child.proc.kill('SIGKILL');
    const { signal } = await child.exited;
    expect(signal).toBe('SIGKILL');
    expect(child.lines.some((l) => l.startsWith('done'))).toBe(false);

    // The partial write exists only as a temp file…
    const temps = await readdir(join(root, 'tmp'));
    expect(temps).toHaveLength(1);
    const partial = (await stat(join(root, 'tmp', temps[0]!))).size;
    expect(partial).toBeGreaterThanOrEqual(40 * MiB);
    expect(partial).toBeLessThan(count * MiB);
    // …and nothing is visible under the digest.
    const store = new ContentStore({ root });
    expect(await store.has(expected)).toBe(false);
    expect(await readdir(join(root, 'content-v1/sha256')).catch(() => [])).toEqual([]);
    // Streaming, not buffering: the writer's memory stayed far below the blob's size.
    expect(rss).toBeLessThan(150 * MiB);

    // The next write of the same blob succeeds and verifies.
    const again = await store.put(blobChunks('big', count, MiB), { expected, size: count * MiB });
    expect(again).toEqual({ digest: expected, size: count * MiB });
    expect(await sha256OfStream(store.get(expected))).toBe(expected);

    // The dead writer's temp file goes once it is old enough (a day by default).
    const later = new ContentStore({ root, now: () => Date.now() + 25 * 3600_000 });
    expect(await later.cleanTemp()).toEqual({ removed: 1, bytes: partial });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('two processes writing the same blob and different blobs at once both succeed', async () => {
    const root = await tempDir();
    const KiB = 1024;
    const specs = {
      shared: ['shared', 96, 256 * KiB] as const,
      a: ['only-a', 64, 256 * KiB] as const,
      b: ['only-b', 64, 256 * KiB] as const,
    };
    const digests = {
      shared: await digestOfChunks(...specs.shared),
      a: await digestOfChunks(...specs.a),
      b: await digestOfChunks(...specs.b),
    };
    const spec = (s: readonly [string, number, number]) => `${s[0]}:${s[1]}:${s[2]}:2`;
    const c1 = startWriter(root, [spec(specs.shared), spec(specs.a)]);
    const c2 = startWriter(root, [spec(specs.shared), spec(specs.b)]);
    // Both are mid-way through the shared blob at the same time.
    await Promise.all([c1.waitFor((l) => l.startsWith('progress shared')), c2.waitFor((l) => l.startsWith('progress shared'))]);
    const [e1, e2] = await Promise.all([c1.exited, c2.exited]);
    expect(e1.code).toBe(0);
    expect(e2.code).toBe(0);
    const done1 = c1.lines.filter((l) => l.startsWith('done')).map((l) => l.split(' ')[1]);
    const done2 = c2.lines.filter((l) => l.startsWith('done')).map((l) => l.split(' ')[1]);
    expect(done1).toEqual([digests.shared, digests.a]);
    expect(done2).toEqual([digests.shared, digests.b]);

    const store = new ContentStore({ root });
    for (const d of Object.values(digests)) expect(await sha256OfStream(store.get(d))).toBe(d);
    expect((await readdir(join(root, 'content-v1/sha256'))).sort()).toEqual(Object.values(digests).map((d) => d.slice(7)).sort());
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});
