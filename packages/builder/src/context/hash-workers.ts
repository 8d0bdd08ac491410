/**
 * Cold content hashing on worker threads. Hashing many small files on the main thread is bound by
 * one core plus a thread-pool round trip per open/read/stat/close; workers doing plain synchronous
 * reads (one 256 KiB buffer each, so memory stays bounded) use every core and skip the round trips.
 * The worker body is inline JavaScript so it runs the same from `src/` (tests) and `dist/`.
 */
import { Worker } from 'node:worker_threads';
import type { ContextEntry } from './entry.js';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(256 * 1024);
parentPort.on('message', (jobs) => {
  const out = [];
  for (const [i, file, size, mtime, ctime, ino] of jobs) {
    try {
      const fd = fs.openSync(file, 'r');
      try {
        let hex, changed;
        for (let attempt = 0; ; attempt++) {
          const h = createHash('sha256');
          let total = 0, n;
          while ((n = fs.readSync(fd, buf, 0, buf.length, total)) > 0) {
            h.update(buf.subarray(0, n));
            total += n;
            if (attempt === 0 && total === size) break;
          }
          const st = fs.fstatSync(fd, { bigint: true });
          changed = String(st.mtimeNs) !== mtime || String(st.ctimeNs) !== ctime || Number(st.size) !== size || String(st.ino) !== ino;
          if (Number(st.size) === total || attempt > 0) { hex = h.digest('hex'); break; }
        }
        out.push([i, hex, changed, null]);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      out.push([i, null, true, String(e && e.message || e)]);
    }
  }
  parentPort.postMessage(out);
});
`;

export interface WorkerHashResult {
  hex: string;
  changed: boolean;
}

/**
 * Hashes `files` (absolute path + the entry it was walked as) on `threads` workers, in batches.
 * Rejects on the first unreadable file.
 */
export async function hashFilesOnWorkers(
  files: readonly { abs: string; entry: ContextEntry }[],
  threads: number,
  onRead?: (contextPath: string) => void,
): Promise<WorkerHashResult[]> {
  const results = new Array<WorkerHashResult>(files.length);
  const BATCH = 64;
  let next = 0;
  const workers = Array.from({ length: Math.max(1, threads) }, () => new Worker(WORKER_SOURCE, { eval: true }));
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = () => {
              if (next >= files.length) return resolve();
              const jobs = [];
              for (const end = Math.min(files.length, next + BATCH); next < end; next++) {
                const f = files[next]!;
                onRead?.(f.entry.path);
                jobs.push([next, f.abs, f.entry.size, String(f.entry.mtimeNs), String(f.entry.ctimeNs), String(f.entry.ino)]);
              }
              w.postMessage(jobs);
            };
            w.on('message', (out: [number, string | null, boolean, string | null][]) => {
              for (const [i, hex, changed, err] of out) {
                if (err !== null || hex === null) return reject(new Error(`cannot read ${files[i]!.abs}: ${err}`));
                results[i] = { hex, changed };
              }
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
