/**
 * The syscall helper behind overlay mounts: real mount(2)/umount2(2)/mknodat(2) through one perl process,
 * the errno answers the callers rely on, the util-linux fallback's message on failure, and that an
 * idle helper never keeps a finished build process alive.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { MountError, mountOverlay, unmount } from '../src/snapshot/index.js';
import { constants } from 'node:os';
import { helperMknod, helperMount, helperSpawn, helperUnmount, type HelperChild } from '../src/host-helper/index.js';
import { mountsUnder } from './executor-helpers.js';

afterAll(cleanupTempDirs);
const isRoot = process.getuid?.() === 0;

async function overlayDirs() {
  const tmp = await makeTempDir('bi-mnt-');
  for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(path.join(tmp, d));
  writeFileSync(path.join(tmp, 'lower/from-lower'), 'L');
  const options = `lowerdir=${tmp}/lower,upperdir=${tmp}/upper,workdir=${tmp}/work,redirect_dir=off,index=off,metacopy=off`;
  return { tmp, merged: path.join(tmp, 'merged'), options };
}

describe.skipIf(!isRoot)('syscall helper', () => {
  it('mounts an overlay and unmounts it; writes land in the upper dir', async () => {
    const { tmp, merged, options } = await overlayDirs();
    expect(await helperMount('overlay', merged, 'overlay', options)).toBe(0);
    expect(mountsUnder(tmp)).toEqual([merged]);
    expect(readFileSync(path.join(merged, 'from-lower'), 'utf8')).toBe('L');
    writeFileSync(path.join(merged, 'new'), 'N');
    expect(await helperUnmount(merged)).toBe(0);
    expect(mountsUnder(tmp)).toEqual([]);
    expect(readFileSync(path.join(tmp, 'upper/new'), 'utf8')).toBe('N');
    // Not mounted any more: EINVAL, which unmount() treats as done.
    expect(await helperUnmount(merged)).toBe(constants.errno.EINVAL);
    await unmount(merged);
  });

  it('resolves relative lower dirs from the given cwd (the long-lowerdir form)', async () => {
    const { tmp, merged } = await overlayDirs();
    expect(await helperMount('overlay', merged, 'overlay', `lowerdir=lower,upperdir=${tmp}/upper,workdir=${tmp}/work`, tmp)).toBe(0);
    expect(readFileSync(path.join(merged, 'from-lower'), 'utf8')).toBe('L');
    await unmount(merged);
    expect(mountsUnder(tmp)).toEqual([]);
  });

  it('answers a failing mount with its errno, and mountOverlay then reports util-linux\'s message', async () => {
    const { tmp, merged } = await overlayDirs();
    expect(await helperMount('overlay', merged, 'overlay', `lowerdir=${tmp}/missing`)).toBe(constants.errno.ENOENT);
    const err = await mountOverlay(merged, `lowerdir=${tmp}/missing,upperdir=${tmp}/upper,workdir=${tmp}/work`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MountError);
    expect((err as MountError).message).toMatch(/Could not mount an overlay at .*merged: mount: /);
    expect(mountsUnder(tmp)).toEqual([]);
  });

  it('makes device nodes and fifos with mknodat(2), answering an existing path with EEXIST', async () => {
    const tmp = await makeTempDir('bi-mknod-');
    const wh = path.join(tmp, 'whiteout');
    expect(await helperMknod(wh, 0o020000, 0)).toBe(0);
    const st = lstatSync(wh);
    expect([st.isCharacterDevice(), st.rdev]).toEqual([true, 0]);
    // /dev/null's numbers (1, 3), encoded as the kernel does.
    const dev = path.join(tmp, 'null');
    expect(await helperMknod(dev, 0o020000 | 0o600, (1 << 8) | 3)).toBe(0);
    expect(lstatSync(dev).rdev).toBe(lstatSync('/dev/null').rdev);
    const fifo = path.join(tmp, 'fifo');
    expect(await helperMknod(fifo, 0o010000 | 0o644, 0)).toBe(0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(await helperMknod(fifo, 0o010000 | 0o644, 0)).toBe(constants.errno.EEXIST);
  });

  it('serves concurrent requests in order', async () => {
    const dirs = await Promise.all([overlayDirs(), overlayDirs(), overlayDirs()]);
    expect(await Promise.all(dirs.map((d) => helperMount('overlay', d.merged, 'overlay', d.options)))).toEqual([0, 0, 0]);
    expect(await Promise.all(dirs.map((d) => helperUnmount(d.merged)))).toEqual([0, 0, 0]);
    for (const d of dirs) expect(mountsUnder(d.tmp)).toEqual([]);
  });

  it('does not keep a finished process alive', async () => {
    const { tmp, merged, options } = await overlayDirs();
    const helperUrl = new URL('../src/host-helper/index.ts', import.meta.url);
    const script = path.join(tmp, 'once.ts');
    writeFileSync(
      script,
      `import { helperMount, helperUnmount } from ${JSON.stringify(fileURLToPath(helperUrl))};\n` +
        `const a = await helperMount('overlay', ${JSON.stringify(merged)}, 'overlay', ${JSON.stringify(options)});\n` +
        `const b = await helperUnmount(${JSON.stringify(merged)});\n` +
        `console.log(a, b);\n`,
    );
    const esbuild = fileURLToPath(new URL('../../../node_modules/.bin/esbuild', import.meta.url));
    execFileSync(esbuild, [script, '--bundle', '--platform=node', '--format=esm', `--outfile=${tmp}/once.mjs`, '--log-level=error']);
    // Without the unref of an idle helper this process would wait for perl forever.
    const r = spawnSync(process.execPath, [`${tmp}/once.mjs`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout.trim()).toBe('0 0');
    expect(r.status).toBe(0);
    expect(mountsUnder(tmp)).toEqual([]);
  });
});

/** Runs `argv` through the helper and collects what a caller of child_process would see. */
async function collect(child: HelperChild): Promise<{ stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => void (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => void (stderr += c.toString('utf8')));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, s) => r([c, s])));
  return { stdout, stderr, code, signal };
}

describe('spawning through the helper', () => {
  it('keeps stdout and stderr apart and reports the exit code, in the given cwd', async () => {
    const dir = await makeTempDir('bi-spawn-');
    const child = await helperSpawn(['/bin/sh', '-c', 'pwd; echo to-err >&2; read x || echo stdin-empty; exit 3'], dir);
    expect(child).toBeDefined();
    expect(await collect(child!)).toEqual({ stdout: `${dir}\nstdin-empty\n`, stderr: 'to-err\n', code: 3, signal: null });
  });

  it('reports a signal as the signal, with no exit code', async () => {
    const r = await collect((await helperSpawn(['/bin/sh', '-c', 'kill -TERM $$'], '/'))!);
    expect(r.code).toBeNull();
    expect(r.signal).toBe('SIGTERM');
  });

  it('delivers large output whole, also from processes that outlive a fast exit of others', async () => {
    const [big, quick] = await Promise.all([
      helperSpawn(['/bin/sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" a'], '/'),
      helperSpawn(['/bin/echo', 'quick'], '/'),
    ]);
    const [b, q] = await Promise.all([collect(big!), collect(quick!)]);
    expect(b.stdout.length).toBe(3_000_000);
    expect(/^a+$/.test(b.stdout)).toBe(true);
    expect(q).toEqual({ stdout: 'quick\n', stderr: '', code: 0, signal: null });
  });

  it('declines what it cannot exec, so the caller spawns the usual way and gets the usual error', async () => {
    expect(await helperSpawn(['/nonexistent/binary'], '/')).toBeUndefined();
    expect(await helperSpawn(['/bin/true'], '/nonexistent-dir')).toBeUndefined();
  });
});
