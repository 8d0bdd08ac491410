/**
 * Progress renderers: a golden test of plain output, every JSON event checked against
 * src/progress/schema.json, the TTY renderer's frames, and the real CLI under a pseudo-terminal
 * (`script` from util-linux) picking the TTY view for `--progress=auto`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build as esbuild } from 'esbuild';
import type { ProgressEvent, StepRef } from '../src/progress/events.js';
import { jsonRenderer, plainRenderer } from '../src/progress/plain.js';
import { humanSize, ttyRenderer } from '../src/progress/tty.js';
import { cleanupTempDirs, makeTempDir, writeTree } from '../../../test/helpers/tmp.js';
import { makeBusyboxImage } from '../../../test/helpers/busybox-image.js';
import { ensureUnprivilegedUser } from '../../../test/helpers/unprivileged-user.js';

afterAll(cleanupTempDirs);

const repo = path.resolve(__dirname, '../../..');
const K = (c: string) => `sha256:${c.repeat(64)}`;
const s1: StepRef = { id: 1, stage: 'base', index: 1, total: 3, name: 'COPY rootfs/ /', line: 2 };
const s2: StepRef = { id: 2, stage: 'base', index: 2, total: 3, name: 'RUN make', line: 3 };
const s3: StepRef = { id: 3, stage: 'base', index: 3, total: 3, name: 'RUN false', line: 4 };

/** A build with every event type: a cached step, a step with output and a miss, a failing step. */
const EVENTS: ProgressEvent[] = [
  { v: 1, type: 'build-start', time: 1000, dockerfile: 'Dockerfile', target: 'base', platform: 'linux/amd64' },
  { v: 1, type: 'step-start', time: 1000, step: s1 },
  { v: 1, type: 'step-cached', time: 1010, step: s1, key: K('a') },
  { v: 1, type: 'step-start', time: 1010, step: s2 },
  { v: 1, type: 'step-output', time: 1412, step: s2, stream: 'stdout', text: 'cc -o app main.c\nlinking' },
  { v: 1, type: 'step-output', time: 1500, step: s2, stream: 'stderr', text: ' app\n' },
  { v: 1, type: 'log', time: 1600, level: 'warn', message: 'base image is old' },
  { v: 1, type: 'step-done', time: 2210, step: s2, durationMs: 1200, key: K('b'), miss: ['RUN command changed: "make" was "make all"'], layer: { digest: K('c'), size: 1234 } },
  { v: 1, type: 'step-start', time: 2210, step: s3 },
  { v: 1, type: 'step-error', time: 2300, step: s3, message: 'process "/bin/sh -c false" did not complete successfully: exit code: 1' },
  { v: 1, type: 'build-done', time: 3200, durationMs: 2200, steps: { run: 1, cached: 1 }, image: { digest: K('d'), configDigest: K('e'), size: 2_500_000 }, outputs: ['oci:/out/app.tar'] },
];

describe('plain progress', () => {
  it('prints the exact BuildKit-like lines for a fixed event sequence', () => {
    let out = '';
    const render = plainRenderer((t) => void (out += t));
    for (const e of EVENTS) render(e);
    expect(out).toBe(
      [
        '#0 building Dockerfile (target base) for linux/amd64',
        '#1 [base 1/3] COPY rootfs/ /',
        '#1 CACHED',
        '#2 [base 2/3] RUN make',
        '#2 0.402 cc -o app main.c',
        '#2 0.490 linking app',
        'WARNING: base image is old',
        '#2 cache miss: RUN command changed: "make" was "make all"',
        '#2 DONE 1.2s',
        '#3 [base 3/3] RUN false',
        '#3 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
        '#done 1 run, 1 cached in 2.2s',
        `#done image ${K('d')} (config ${K('e')}, 2500000 bytes)`,
        '#done exported oci:/out/app.tar',
        '',
      ].join('\n'),
    );
  });
});

// A small validator for the subset of JSON Schema that schema.json uses.
type Schema = Record<string, unknown>;
function validate(value: unknown, schema: Schema, root: Schema, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Schema)[k], root) as Schema;
    return validate(value, target, root, at);
  }
  if (Array.isArray(schema.oneOf)) {
    const passing = (schema.oneOf as Schema[]).filter((s) => validate(value, s, root, at).length === 0);
    return passing.length === 1 ? [] : [`${at}: matches ${passing.length} of oneOf`];
  }
  const errors: string[] = [];
  if ('const' in schema && value !== schema.const) errors.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${at}: not in enum`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: not an object`];
      const obj = value as Record<string, unknown>;
      for (const r of (schema.required as string[]) ?? []) if (!(r in obj)) errors.push(`${at}.${r}: missing`);
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const [k, v] of Object.entries(obj)) {
        if (!props[k]) errors.push(`${at}.${k}: not in the schema`);
        else errors.push(...validate(v, props[k]!, root, `${at}.${k}`));
      }
      break;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: not an array`];
      value.forEach((v, i) => errors.push(...validate(v, schema.items as Schema, root, `${at}[${i}]`)));
      break;
    case 'string':
      if (typeof value !== 'string') errors.push(`${at}: not a string`);
      else if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) errors.push(`${at}: does not match ${schema.pattern}`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) errors.push(`${at}: not an integer`);
      break;
    case 'number':
      if (typeof value !== 'number') errors.push(`${at}: not a number`);
      break;
  }
  if (typeof schema.minimum === 'number' && typeof value === 'number' && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`);
  return errors;
}

describe('json progress', () => {
  const schema = JSON.parse(readFileSync(path.join(__dirname, '../src/progress/schema.json'), 'utf8')) as Schema;
  it('prints one event per line, each valid against schema.json, every event type covered', () => {
    let out = '';
    const render = jsonRenderer((t) => void (out += t));
    for (const e of EVENTS) render(e);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(EVENTS.length);
    const types = new Set<string>();
    for (const line of lines) {
      const event = JSON.parse(line);
      expect(validate(event, schema, schema), line).toEqual([]);
      types.add(event.type);
    }
    expect([...types].sort()).toEqual(['build-done', 'build-start', 'log', 'step-cached', 'step-done', 'step-error', 'step-output', 'step-start']);
  });
  it('the validator rejects wrong events (it can fail)', () => {
    expect(validate({ v: 1, type: 'step-start', time: 1 }, schema, schema)).not.toEqual([]);
    expect(validate({ v: 2, type: 'log', time: 1, level: 'info', message: 'x' }, schema, schema)).not.toEqual([]);
    expect(validate({ v: 1, type: 'step-cached', time: 1, step: s1, key: 'sha256:zz' }, schema, schema)).not.toEqual([]);
    expect(validate({ v: 1, type: 'log', time: 1, level: 'info', message: 'x', extra: 1 }, schema, schema)).not.toEqual([]);
  });
});

describe('tty progress', () => {
  it('redraws in place: header, one line per step, output tail of running steps, final summary', async () => {
    let t = 1000;
    const writes: string[] = [];
    const render = ttyRenderer({ write: (s: string) => void writes.push(s), columns: 100, rows: 40 }, { now: () => t, intervalMs: 10, color: false });
    render(EVENTS[0]!);
    render(EVENTS[1]!);
    render(EVENTS[2]!);
    render(EVENTS[3]!);
    t = 1412;
    render(EVENTS[4]!);
    await new Promise((r) => setTimeout(r, 30));
    const live = writes.join('');
    expect(live).toContain('[+] Building 0.4s (1/2)');
    expect(live).toMatch(/ => CACHED \[base 1\/3\] COPY rootfs\/ \/ +0\.0s/);
    expect(live).toMatch(/ => \[base 2\/3\] RUN make +0\.4s/);
    expect(live).toContain(' => => # cc -o app main.c');
    expect(live).toContain(' => => # linking');
    const before = writes.length;
    t = 3200;
    for (const e of EVENTS.slice(5)) render(e);
    const final = writes.slice(before).join('');
    // The second frame moves the cursor back over the first one and clears what is below.
    expect(final.startsWith('\x1b[')).toBe(true);
    expect(final).toMatch(/^\x1b\[\d+A\r/);
    expect(final).toContain('\x1b[J');
    const text = final.replace(/\x1b\[\d*[A-Za-z]/g, '');
    expect(text).toContain('[+] Building 2.2s (3/3) ERROR');
    expect(text).toMatch(/ => \[base 2\/3\] RUN make +1\.2s/);
    expect(text).not.toContain('# cc -o app'); // finished steps collapse to one line
    expect(text).toMatch(/ => ERROR \[base 3\/3\] RUN false +0\.1s/);
    expect(text).toContain('WARNING: base image is old');
    expect(text).toContain('1 step run, 1 cached in 2.2s\ncache misses:\n  #2 [base 2/3] RUN make: RUN command changed: "make" was "make all"\n');
    expect(text).toContain(`image ${K('d')} (2.50MB), config ${K('e')}\nexported oci:/out/app.tar\n`);
    // Closed: later events draw nothing.
    const n = writes.length;
    render(EVENTS[1]!);
    render.close();
    expect(writes.length).toBe(n);
  });
  it('throttles redraws to the interval however many events arrive', async () => {
    const writes: string[] = [];
    const render = ttyRenderer({ write: (s: string) => void writes.push(s), columns: 80 }, { intervalMs: 100, color: false });
    render(EVENTS[0]!);
    render(EVENTS[3]!);
    const started = Date.now();
    while (Date.now() - started < 350) {
      render({ v: 1, type: 'step-output', time: Date.now(), step: s2, stream: 'stdout', text: 'line\n' });
      await new Promise((r) => setImmediate(r));
    }
    render.close();
    // ~350 ms at 100 ms per frame: 4-5 live frames plus the final one, not thousands.
    expect(writes.length).toBeGreaterThanOrEqual(3);
    expect(writes.length).toBeLessThanOrEqual(7);
  });
  it('cuts lines to the terminal width and strips control sequences from output', async () => {
    const writes: string[] = [];
    const render = ttyRenderer({ write: (s: string) => void writes.push(s), columns: 40 }, { intervalMs: 1, color: false, now: () => 1500 });
    render(EVENTS[0]!);
    render({ v: 1, type: 'step-start', time: 1000, step: { ...s2, name: `RUN ${'x'.repeat(100)}` } });
    render({ v: 1, type: 'step-output', time: 1000, step: s2, stream: 'stdout', text: '\x1b[31mred\x1b[0m 50%\r100%\n' });
    await new Promise((r) => setTimeout(r, 20));
    render.close();
    const lines = writes.join('').split('\n').map((l) => l.replace(/\x1b\[\d*[A-Za-z]/g, '').replace(/\r/g, ''));
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(39);
    expect(lines).toContain(' => => # 100%');
  });
  it('humanSize uses decimal units like docker', () => {
    expect(humanSize(999)).toBe('999B');
    expect(humanSize(1234)).toBe('1.23kB');
    expect(humanSize(4_400_000)).toBe('4.40MB');
    expect(humanSize(123_000_000)).toBe('123MB');
  });
});

describe('CLI under a pseudo-terminal', () => {
  it('--progress=auto draws the TTY view on a terminal and plain lines on a pipe', async () => {
    const dir = await makeTempDir('progress-tty-');
    // The CLI from source, bundled so plain node can run it; dependencies stay in node_modules.
    const bundle = path.join(repo, '.tmp', `cli-tty-${process.pid}.mjs`);
    mkdirSync(path.dirname(bundle), { recursive: true });
    await esbuild({
      entryPoints: [path.join(repo, 'packages/builder/src/cli/main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      conditions: ['source'],
      external: ['@napi-rs/xattr', 'tar-stream', 'tar-fs', 'p-limit', 'minimatch', 'csv-parse', 'csv-parse/*'],
      logLevel: 'silent',
    });
    const ctx = path.join(dir, 'ctx');
    await writeTree(ctx, { Dockerfile: 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n', 'a.txt': 'a\n', 'b.txt': 'b\n' });
    // A RUN whose output arrives over time: the live view shows its last lines while it runs.
    const runCtx = path.join(dir, 'run');
    await writeTree(runCtx, { Dockerfile: 'FROM busybox\nRUN for i in 1 2 3 4; do echo "line $i"; sleep 0.3; done\n' });
    const env = { ...process.env, BUILD_IMAGE_CACHE_DIR: path.join(dir, 'cache'), TERM: 'xterm', NO_COLOR: '1' };
    delete env.CI;
    const cmd = `node ${bundle} build --progress=auto --output type=oci,dest=${dir}/out.tar ${ctx}`;
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/\x1b\[\d+A/); // cursor up: a redraw
    const text = out.replace(/\x1b\[\d*[A-Za-z]/g, '').replace(/\r/g, '');
    expect(text).toMatch(/\[\+\] Building \d+\.\ds \(2\/2\) FINISHED/);
    expect(text).toMatch(/ => \[stage-0 1\/2\] COPY a\.txt \/a\.txt +\d+\.\ds/);
    expect(text).toMatch(/ => \[stage-0 2\/2\] COPY b\.txt \/b\.txt +\d+\.\ds/);
    expect(text).toContain('2 steps run, 0 cached');
    expect(text).toMatch(/image sha256:[0-9a-f]{64} \(\d+B\), config sha256:[0-9a-f]{64}/);
    expect(text).toContain(`exported oci:${dir}/out.tar`);
    const layout = (await makeBusyboxImage()).layoutDir;
    const runCmd = `node ${bundle} build --progress=auto --build-context busybox=oci-layout://${layout}:latest ${runCtx}`;
    const rr = spawnSync('script', ['-qfec', runCmd, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(rr.status, rr.stdout).toBe(0);
    const frames = rr.stdout.replace(/\r/g, '').split(/\x1b\[\d+A/);
    // Some frame drawn while the step ran shows its latest output lines under it...
    const live = frames.find((f) => f.includes(' => => # line 2'));
    expect(live, rr.stdout).toBeDefined();
    expect(live!.replace(/\x1b\[\d*[A-Za-z]/g, '')).toMatch(/ => \[stage-0 1\/1\] RUN for i in 1 2 3 4; do echo "line \$i"; sleep 0\.3; done +\d+\.\ds\n => => # line 1\n => => # line 2\n/);
    // ...and the last frame has it collapsed to one line.
    const last = frames[frames.length - 1]!.replace(/\x1b\[\d*[A-Za-z]/g, '');
    expect(last).toMatch(/FINISHED\n => \[stage-0 1\/1\] RUN for i .* +\d+\.\ds\n1 step run, 0 cached/);
    expect(last).not.toContain('# line');
    // Rootless: the build re-executes itself in a user namespace with stderr piped through the
    // parent; the live view must survive that.
    const user = ensureUnprivilegedUser();
    const own = path.join(dir, 'rootless');
    await writeTree(own, { Dockerfile: 'FROM busybox\nRUN echo rootless-run\n' });
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, own]);
    execFileSync('chmod', ['755', dir]);
    const asUser = `setpriv --reuid ${user.uid} --regid ${user.gid} --init-groups -- node ${bundle} build --progress=auto --build-context busybox=oci-layout://${layout}:latest ${own}`;
    const ru = spawnSync('script', ['-qfec', asUser, '/dev/null'], { env: { ...env, HOME: user.home, USER: user.name, BUILD_IMAGE_CACHE_DIR: path.join(own, '.cache') }, encoding: 'utf8', timeout: 60_000 });
    expect(ru.status, ru.stdout).toBe(0);
    expect(ru.stdout).toMatch(/\x1b\[\d+A/);
    expect(ru.stdout.replace(/\x1b\[\d*[A-Za-z]/g, '').replace(/\r/g, '')).toMatch(/\[\+\] Building \d+\.\ds \(1\/1\) FINISHED\n => \[stage-0 1\/1\] RUN echo rootless-run +\d+\.\ds\n/);
    // Second run, not a terminal: plain lines, everything cached.
    const plain = execFileSync('node', [bundle, 'build', '--progress=auto', ctx], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(plain).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const r2 = spawnSync('node', [bundle, 'build', '--progress=auto', ctx], { env, encoding: 'utf8' });
    expect(r2.stderr).toContain('#1 CACHED\n');
    expect(r2.stderr).not.toContain('\x1b[');
    rmSync(bundle, { force: true });
  });
});
