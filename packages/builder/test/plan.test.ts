/**
 * `build-image plan`: predictions checked against what real builds then do (same keys, same
 * hits and misses), reasons for misses, unknown steps behind rebuilt stages, and that planning
 * writes no cache entry.
 */
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheIndex, ContentStore } from '@build-image/cache';
import { build, type BuildOptions } from '../src/solve/build.js';
import { planBuild, type BuildPlan } from '../src/plan/index.js';
import { parseCacheExportSpec, parseCacheImportSpec } from '../src/remote-cache/index.js';
import { main, type CliIO } from '../src/cli/main.js';
import type { ProgressEvent } from '../src/progress/events.js';
import { makeBusyboxImage } from '../../../test/helpers/busybox-image.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';

let dir: string;
let ctx: string;
let options: BuildOptions;

const DOCKERFILE = [
  'FROM busybox AS build',
  'WORKDIR /src',
  'COPY a.txt ./',
  'RUN cat a.txt a.txt > out.txt',
  'FROM busybox',
  'ENV MODE=release',
  'COPY --from=build /src/out.txt /out.txt',
  'COPY b.txt /b.txt',
  'CMD ["cat", "/out.txt"]',
  '',
].join('\n');

beforeAll(async () => {
  dir = await makeTempDir('plan-');
  ctx = path.join(dir, 'ctx');
  await writeTree(ctx, { Dockerfile: DOCKERFILE, 'a.txt': 'a1\n', 'b.txt': 'b1\n' });
  await makeBusyboxImage({ layoutDir: path.join(dir, 'busybox') });
  options = { context: ctx, cacheDir: path.join(dir, 'cache'), buildContexts: [{ name: 'busybox', kind: 'oci-layout', dir: path.join(dir, 'busybox'), tag: 'latest' }] };
}, 120_000);
afterAll(cleanupTempDirs);

/** What a real build did per step: `[name, 'hit'|'miss', key]`. */
async function buildOutcome(extra: Partial<BuildOptions> = {}): Promise<Array<[string, string, string]>> {
  const events: ProgressEvent[] = [];
  await build({ ...options, ...extra, onProgress: (e) => events.push(e) });
  const out: Array<[string, string, string]> = [];
  for (const e of events) {
    if (e.type === 'step-cached') out.push([e.step.name, 'hit', e.key]);
    if (e.type === 'step-done') out.push([e.step.name, 'miss', e.key!]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function predicted(plan: BuildPlan): Array<[string, string, string | undefined]> {
  return plan.steps.map((s) => [s.step.name, s.prediction, s.key] as [string, string, string | undefined]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

function byName(plan: BuildPlan, name: string) {
  const s = plan.steps.find((x) => x.step.name === name);
  if (!s) throw new Error(`no step ${name}`);
  return s;
}

async function entries(): Promise<number> {
  const index = new CacheIndex(new ContentStore({ root: path.join(dir, 'cache') }));
  let n = 0;
  for await (const _ of index.list()) n++;
  return n;
}

describe('plan', () => {
  it('cold cache: misses "not built before", also behind a rebuilt stage (its key is known before it runs); nothing written', async () => {
    const plan = await planBuild(options);
    expect(plan.target).toBe('1');
    expect(plan.steps.map((s) => [s.step.id, s.step.name, s.prediction])).toEqual([
      [1, 'WORKDIR /src', 'miss'],
      [2, 'COPY a.txt ./', 'miss'],
      [3, 'RUN cat a.txt a.txt > out.txt', 'miss'],
      [5, 'COPY --from=build /src/out.txt /out.txt', 'miss'],
      [6, 'COPY b.txt /b.txt', 'miss'],
    ]);
    expect(byName(plan, 'COPY a.txt ./').reasons).toEqual(['not built before']);
    expect(byName(plan, 'COPY --from=build /src/out.txt /out.txt').reasons).toEqual(['not built before']);
    expect(plan.summary).toEqual({ hit: 0, miss: 5, unknown: 0 });
    expect(await entries()).toBe(0);
  });

  it('the keys it predicts are the keys the build uses; after the build everything is a hit', async () => {
    const cold = await planBuild(options);
    const built = await buildOutcome();
    const known = predicted(cold).filter(([, p]) => p !== 'unknown');
    for (const [name, , key] of known) expect(built.find(([n]) => n === name)?.[2], name).toBe(key);
    const before = await entries();
    const warm = await planBuild(options);
    expect(warm.summary).toEqual({ hit: 5, miss: 0, unknown: 0 });
    expect(predicted(warm)).toEqual(built.map(([n, , k]) => [n, 'hit', k]));
    expect(byName(warm, 'COPY b.txt /b.txt').layer?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await entries()).toBe(before);
  });

  it('a changed file: the plan names it, and the build then does exactly what was predicted', async () => {
    await writeFile(path.join(ctx, 'b.txt'), 'b2\n');
    const plan = await planBuild(options);
    expect(plan.steps.filter((s) => s.prediction !== 'hit').map((s) => s.step.name)).toEqual(['COPY b.txt /b.txt']);
    expect(byName(plan, 'COPY b.txt /b.txt').reasons.join('\n')).toContain('b.txt');
    const built = await buildOutcome();
    expect(built).toEqual(predicted(plan));
  });

  it('a change early in a stage: the rest of the stage misses, and so do the steps that copy from it', async () => {
    await writeFile(path.join(ctx, 'a.txt'), 'a2\n');
    const plan = await planBuild(options);
    expect(plan.steps.map((s) => [s.step.name, s.prediction])).toEqual([
      ['WORKDIR /src', 'hit'],
      ['COPY a.txt ./', 'miss'],
      ['RUN cat a.txt a.txt > out.txt', 'miss'],
      ['COPY --from=build /src/out.txt /out.txt', 'miss'],
      ['COPY b.txt /b.txt', 'miss'],
    ]);
    expect(byName(plan, 'COPY a.txt ./').reasons.join('\n')).toContain('a.txt');
    // The stage it copies from changed: the miss says so (its key is an input of this step).
    expect(byName(plan, 'COPY --from=build /src/out.txt /out.txt').reasons.join('\n')).toMatch(/from/);
    const built = await buildOutcome();
    for (const [name, p, key] of predicted(plan)) {
      if (p !== 'unknown') expect(built.find(([n]) => n === name), name).toEqual([name, p, key]);
    }
  });

  it('--no-cache predicts a run for every step', async () => {
    const plan = await planBuild({ ...options, noCache: true });
    expect(plan.steps.every((s) => s.prediction === 'miss' || s.prediction === 'unknown')).toBe(true);
    expect(byName(plan, 'WORKDIR /src').reasons).toEqual(['--no-cache']);
  });

  it('--cache-from: a cold cache dir plans hits from an imported cache', async () => {
    const exported = path.join(dir, 'exported-cache');
    await build({ ...options, cacheTo: [parseCacheExportSpec(`type=local,dest=${exported},mode=max`)] });
    const cold = { ...options, cacheDir: path.join(dir, 'cold-cache') };
    expect((await planBuild(cold)).summary.hit).toBe(0);
    const plan = await planBuild({ ...cold, cacheFrom: [parseCacheImportSpec(`type=local,src=${exported}`)] });
    expect(plan.summary).toEqual({ hit: 5, miss: 0, unknown: 0 });
    expect(plan.warnings).toEqual([]);
    const missing = await planBuild({ ...cold, cacheFrom: [parseCacheImportSpec(`type=local,src=${dir}/nowhere`)] });
    expect(missing.warnings).toHaveLength(1);
    expect(missing.warnings[0]).toContain('nowhere');
  });

  it('CLI: text and --json', async () => {
    let stdout = '';
    let stderr = '';
    const io: CliIO = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {}, cwd: dir, readFile: async () => '' };
    const args = ['plan', '--cache-dir', 'cache', '--build-context', `busybox=oci-layout://${dir}/busybox:latest`, '-t', 'ignored:1', '--output', 'type=oci,dest=x.tar'];
    expect(await main([...args, 'ctx'], io), stderr).toBe(0);
    expect(stdout).toMatch(/^plan for Dockerfile \(target 1, linux\/\w+\): nothing is run\n/);
    expect(stdout).toMatch(/#6 \[stage-1 3\/4\] COPY b\.txt \/b\.txt +CACHED  sha256:[0-9a-f]{12}\n/);
    expect(stdout).toContain('5 layer steps: 5 cached, 0 to run\n');
    stdout = '';
    await writeFile(path.join(ctx, 'b.txt'), 'b3\n');
    expect(await main([...args, '--json', 'ctx'], io)).toBe(0);
    const plan = JSON.parse(stdout) as BuildPlan;
    expect(plan.summary).toEqual({ hit: 4, miss: 1, unknown: 0 });
    const miss = plan.steps.find((s) => s.prediction === 'miss')!;
    expect(miss.step).toMatchObject({ id: 6, stage: 'stage-1', index: 3, total: 4, name: 'COPY b.txt /b.txt', line: 8 });
    expect(miss.key).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
