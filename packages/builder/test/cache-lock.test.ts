/**
 * Cache-mount directory locks: within the process (a queue) and across processes (flock on
 * `<dir>.lock`), held by the host helper or, without it, by a util-linux `flock` process. The
 * other side is always a real `flock(1)`, as another build process would be.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { lockCacheDir, tryLockCacheDir } from '../src/solve/cache-lock.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';

afterAll(cleanupTempDirs);

/** Another process holding `<dir>.lock` for `ms`; resolves once it holds it, with its exit. */
function holdElsewhere(dir: string, ms: number): Promise<{ exited: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [`${dir}.lock`, 'sh', '-c', `echo held; sleep ${ms / 1000}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    child.stdout.once('data', () => resolve({ exited }));
    child.on('error', reject);
  });
}

/** Whether another process could take `<dir>.lock` right now. */
function freeElsewhere(dir: string): boolean {
  try {
    execFileSync('flock', ['--nonblock', `${dir}.lock`, 'true']);
    return true;
  } catch {
    return false;
  }
}

describe.each([
  ['the host helper', '1'],
  ['a util-linux flock process', '0'],
])('cache dir locks held by %s', (_name, helperSetting) => {
  const saved = process.env.BUILD_IMAGE_HOST_HELPER;
  beforeEach(() => {
    process.env.BUILD_IMAGE_HOST_HELPER = helperSetting;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.BUILD_IMAGE_HOST_HELPER;
    else process.env.BUILD_IMAGE_HOST_HELPER = saved;
  });

  it('waits while another process holds the directory, and keeps others out while it holds it', async () => {
    const dir = path.join(await makeTempDir('cache-lock-'), 'mount');
    const other = await holdElsewhere(dir, 600);
    const started = Date.now();
    expect(await tryLockCacheDir(dir)).toBeUndefined();
    const held = await lockCacheDir(dir);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(await other.exited).toBe(0);
    expect(freeElsewhere(dir)).toBe(false);
    await held.release();
    expect(freeElsewhere(dir)).toBe(true);
  });

  it('queues holders within the process, and a private user finds it in use', async () => {
    const dir = path.join(await makeTempDir('cache-lock-'), 'mount');
    const order: string[] = [];
    const first = await lockCacheDir(dir);
    const second = lockCacheDir(dir).then((l) => {
      order.push('second');
      return l;
    });
    expect(await tryLockCacheDir(dir)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    order.push('first releases');
    await first.release();
    await (await second).release();
    expect(order).toEqual(['first releases', 'second']);
    const third = await tryLockCacheDir(dir);
    expect(third).toBeDefined();
    await third!.release();
    expect(freeElsewhere(dir)).toBe(true);
  });

  it('stops waiting on abort and leaves the queue usable', async () => {
    const dir = path.join(await makeTempDir('cache-lock-'), 'mount');
    const other = await holdElsewhere(dir, 500);
    const abort = new AbortController();
    const waiting = lockCacheDir(dir, { signal: abort.signal });
    setTimeout(() => abort.abort(new Error('stop')), 100);
    await expect(waiting).rejects.toThrow('stop');
    await other.exited;
    const held = await lockCacheDir(dir);
    await held.release();
  });
});
