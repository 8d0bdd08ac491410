/**
 * `build-image build` in-process: every --progress mode and the files a CI job reads afterwards
 * (--metadata-file with buildx's keys, --iidfile).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli/main.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('cli-build-');
  await writeTree(path.join(dir, 'ctx'), { Dockerfile: 'FROM scratch\nCOPY a.txt /a.txt\nLABEL x=y\n', 'a.txt': 'a\n' });
});
afterAll(cleanupTempDirs);

async function cli(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd: dir, readFile: (p) => readFile(p, 'utf8') };
  const code = await main(['build', '--cache-dir', 'cache', ...argv, 'ctx'], io);
  return { code, stdout, stderr };
}

describe('build progress modes and result files', () => {
  it('--metadata-file has buildx keys and the cache report; --iidfile the config digest', async () => {
    const r = await cli(['--progress=plain', '--metadata-file', 'meta.json', '--iidfile', 'iid', '-t', 'app:1', '--output', 'type=oci,dest=out.tar']);
    expect(r.code, r.stderr).toBe(0);
    const digest = r.stdout.trim();
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8'));
    expect(meta['containerimage.digest']).toBe(digest);
    expect(meta['containerimage.descriptor']).toMatchObject({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest });
    expect(meta['containerimage.config.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(meta['image.name']).toBe('app:1');
    expect(meta['build-image.cache']).toEqual({ run: 1, cached: 0, misses: [{ step: 'COPY a.txt /a.txt', reasons: ['not built before'] }] });
    expect(await readFile(path.join(dir, 'iid'), 'utf8')).toBe(meta['containerimage.config.digest']);
    expect(r.stderr).toContain('#1 [stage-0 1/2] COPY a.txt /a.txt\n');
  });
  it('--progress=json: one event per line; --progress=quiet and -q: no progress', async () => {
    const j = await cli(['--progress=json']);
    const events = j.stderr.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['build-start', 'step-start', 'step-cached', 'build-done', 'log']);
    expect(events[4]).toMatchObject({ level: 'warn', message: 'No output specified: the image is only in the build cache. Use --output or --push.' });
    expect(events.every((e) => e.v === 1)).toBe(true);
    for (const quiet of [['--progress=quiet'], ['-q']]) {
      const q = await cli(quiet);
      expect(q.code).toBe(0);
      expect(q.stderr).toBe('');
      expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    }
  });
  it('--progress=tty forces the live view (even without a terminal); auto without one is plain', async () => {
    const t = await cli(['--progress=tty'], { NO_COLOR: '1' });
    expect(t.code).toBe(0);
    expect(t.stderr).toContain('\x1b[K');
    expect(t.stderr.replace(/\x1b\[\d*[A-Za-z]/g, '')).toMatch(/\[\+\] Building \d+\.\ds \(1\/1\) FINISHED\n => CACHED \[stage-0 1\/2\] COPY a\.txt \/a\.txt +\d+\.\ds\n/);
    expect(t.stderr).toContain('0 steps run, 1 cached');
    const a = await cli(['--progress=auto']);
    expect(a.stderr).not.toContain('\x1b[');
    expect(a.stderr).toContain('#1 CACHED\n');
    const bad = await cli(['--progress=fancy']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid --progress "fancy": expected one of auto, plain, tty, json, quiet');
  });
});
