/**
 * Snapshotters on their own: scratch, many lower layers (lowerdir length limit), commit and
 * reuse of a layer, automatic selection; and the measured cost of one `RUN true`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { RuncExecutor } from '../src/executor/index.js';
import { CopySnapshotter, createSnapshotter, OverlaySnapshotter, writeXattrs } from '../src/snapshot/index.js';
import type { ApplyMode, LowerLayer, Snapshotter } from '../src/snapshot/index.js';
import { dirApplier, makeBusyboxRootfs, mountsUnder } from './executor-helpers.js';

afterAll(cleanupTempDirs);
const isRoot = process.getuid?.() === 0;
const id = (n: number) => 'sha256:' + n.toString(16).padStart(64, '0');

/** Layer n writes /f<n> and overwrites /top; layer 3 deletes /f1 (whiteout in either format). */
function syntheticLayer(n: number): LowerLayer {
  return {
    diffId: id(n),
    apply: async (dir: string, mode: ApplyMode) => {
      writeFileSync(path.join(dir, `f${n}`), String(n));
      writeFileSync(path.join(dir, 'top'), String(n));
      if (n === 3) {
        if (mode.kind === 'overlay-diff') execFileSync('mknod', [path.join(dir, 'f1'), 'c', '0', '0']);
        else execFileSync('rm', [path.join(dir, 'f1')]);
      }
      if (n === 4 && mode.kind === 'overlay-diff') {
        // An opaque dir hides what lower layers had in it.
        mkdirSync(path.join(dir, 'd'));
        await writeXattrs([{ path: path.join(dir, 'd'), name: `${mode.xattrPrefix}opaque`, value: 'y' }]);
      }
      if (n === 2) {
        mkdirSync(path.join(dir, 'd'));
        writeFileSync(path.join(dir, 'd/old'), 'old');
      }
      if (n === 4 && mode.kind === 'apply') execFileSync('rm', ['-rf', path.join(dir, 'd/old')]);
    },
  };
}

describe.skipIf(!isRoot).each(['overlay', 'copy'] as const)('%s snapshotter', (kind) => {
  const make = (root: string): Snapshotter => (kind === 'overlay' ? new OverlaySnapshotter({ root }) : new CopySnapshotter({ root }));

  it('FROM scratch: an empty rootfs; writes land in the upper dir', async () => {
    const tmp = await makeTempDir('bi-snap-');
    const s = make(tmp);
    const snap = await s.prepare([]);
    expect(execFileSync('ls', ['-A', snap.mergedDir], { encoding: 'utf8' })).toBe('');
    writeFileSync(path.join(snap.mergedDir, 'new'), 'x');
    const { upperDir } = await snap.diff();
    expect(readFileSync(path.join(upperDir, 'new'), 'utf8')).toBe('x');
    await snap.release();
    expect(mountsUnder(tmp)).toEqual([]);
  });

  it('stacks layers with whiteouts and opaque dirs, also beyond the lowerdir length limit', async () => {
    const tmp = await makeTempDir('bi-snap-');
    const s = make(tmp);
    const count = kind === 'overlay' ? 90 : 6;
    const layers = Array.from({ length: count }, (_, i) => syntheticLayer(i + 1));
    const snap = await s.prepare(layers);
    const m = snap.mergedDir;
    expect(readFileSync(path.join(m, 'top'), 'utf8')).toBe(String(count));
    expect(existsSync(path.join(m, 'f1'))).toBe(false);
    expect(readFileSync(path.join(m, 'f2'), 'utf8')).toBe('2');
    expect(existsSync(path.join(m, 'd/old'))).toBe(false);
    expect(readFileSync(path.join(m, `f${count}`), 'utf8')).toBe(String(count));
    await snap.release();
    expect(mountsUnder(tmp)).toEqual([]);
  });

  it('commit keeps the result as a layer that the next prepare reuses without extracting', async () => {
    const tmp = await makeTempDir('bi-snap-');
    const s = make(tmp);
    const l1 = syntheticLayer(1);
    const snap = await s.prepare([l1]);
    writeFileSync(path.join(snap.mergedDir, 'built'), 'yes');
    await snap.diff();
    await snap.commit(id(500));
    await snap.release();
    expect(await s.has([id(1), id(500)])).toBe(true);
    const never = async () => {
      throw new Error('must not extract a committed layer');
    };
    const next = await s.prepare([l1, { diffId: id(500), apply: never }]);
    expect(readFileSync(path.join(next.mergedDir, 'built'), 'utf8')).toBe('yes');
    await next.release();
  });
});

describe.skipIf(!isRoot)('createSnapshotter', () => {
  it('auto picks overlay here, copy on request', async () => {
    const tmp = await makeTempDir('bi-snap-');
    expect((await createSnapshotter({ root: tmp })).kind).toBe('overlay');
    expect((await createSnapshotter({ root: tmp, mode: 'copy' })).kind).toBe('copy');
  });

  it.each(['overlay', 'copy'] as const)('measures the per-RUN overhead of `RUN true` (%s)', async (kind) => {
    const tmp = await makeTempDir('bi-bench-');
    const base = makeBusyboxRootfs(path.join(tmp, 'base'));
    const s = await createSnapshotter({ root: path.join(tmp, 's'), mode: kind });
    const ex = new RuncExecutor({ stateDir: path.join(tmp, 'state') });
    const lower = [{ diffId: id(1), apply: dirApplier(base) }];
    const times: number[] = [];
    for (let i = 0; i < 12; i++) {
      const t = performance.now();
      const snap = await s.prepare(lower);
      const r = await ex.run({ rootfs: snap.mergedDir, args: ['/bin/true'], env: [], cwd: '/', user: '' });
      await snap.diff();
      await snap.release();
      times.push(performance.now() - t);
      expect(r.exitCode).toBe(0);
    }
    const warm = times.slice(2).sort((a, b) => a - b);
    const median = warm[Math.floor(warm.length / 2)] as number;
    console.log(`[bench] RUN true on ${kind}: median ${median.toFixed(1)} ms (min ${warm[0]?.toFixed(1)}, max ${warm[warm.length - 1]?.toFixed(1)})`);
    expect(median).toBeLessThan(5000);
  });
});
