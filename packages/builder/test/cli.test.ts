import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type CliIO } from '../src/cli/main.js';
import { buildArgsFrom, parseFlags } from '../src/cli/flags.js';

function run(argv: string[], files: Record<string, string> = {}, env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env,
    cwd: '/ctx',
    readFile: async (p) => {
      const rel = path.relative('/ctx', p);
      if (!(rel in files)) throw new Error(`ENOENT: no such file, open '${p}'`);
      return files[rel]!;
    },
  };
  return main(argv, io).then((code) => ({ code, stdout, stderr }));
}

describe('build-image CLI (in-process)', () => {
  it('parse --dump prints the BuildKit dump of every upstream testfile byte for byte', async () => {
    const dir = path.resolve(process.cwd(), '../shared/conformance/buildkit-parser/testfiles');
    const { readdirSync } = await import('node:fs');
    for (const name of readdirSync(dir)) {
      const df = readFileSync(path.join(dir, name, 'Dockerfile'), 'utf8');
      const expected = readFileSync(path.join(dir, name, 'result'), 'utf8');
      const r = await run(['parse', '--dump', 'Dockerfile'], { Dockerfile: df });
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toBe(expected);
    }
  });
  it('graph prints stages, bases, steps and edges; --json the graph', async () => {
    const files = { Dockerfile: 'ARG V=1\nFROM alpine:$V AS base\nRUN echo\nFROM base\nCOPY --from=base /a /b\n' };
    const r = await run(['graph', '--build-arg', 'V=2', '--build-arg=X'], files, { X: 'fromenv' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stage 0 "base": FROM image alpine:2');
    expect(r.stdout).toContain('stage 1 (target): FROM stage 0');
    expect(r.stdout).toContain('COPY --from=base /a /b   <- stage 0');
    expect(r.stdout).toContain('warning: build args not consumed: X');
    const j = await run(['graph', '--json', '--target', 'base', '--platform', 'linux/arm64'], files);
    const g = JSON.parse(j.stdout);
    expect(g.target).toBe(0);
    expect(g.stages).toHaveLength(1);
    expect(g.platform.target.string).toBe('linux/arm64');
  });
  it('-f FILE and errors with a code frame (exit 1)', async () => {
    const r = await run(['graph', '-f', 'sub/Dockerfile.dev'], { 'sub/Dockerfile.dev': 'FROM alpine\nCOPY a\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: sub/Dockerfile.dev:2:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined\n  1 | FROM alpine\n> 2 | COPY a\n    | ^\n  3 | \n',
    );
    const missing = await run(['graph']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read Dockerfile/);
  });
  it('usage errors exit 2; --help and --version exit 0', async () => {
    expect((await run(['nope'])).code).toBe(2);
    expect((await run([])).code).toBe(2);
    const bad = await run(['graph', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag: --bogus');
    expect((await run(['graph', '--target'])).code).toBe(2);
    expect((await run(['--help'])).stdout).toContain('graph');
    expect((await run(['--version'])).stdout).toBe('build-image 0.1.0\n');
    expect((await run(['graph', '--help'])).stdout).toContain('Usage: build-image graph');
  });
  it('flag parsing: repeated, inline, short, and build-arg from env', () => {
    const p = parseFlags(['-fX', '--build-arg', 'A=1', '--build-arg=B', 'ctx'], [
      { name: 'file', short: 'f', type: 'string' },
      { name: 'build-arg', type: 'list' },
    ]);
    expect(p.values.get('file')).toEqual(['X']);
    expect(p.positionals).toEqual(['ctx']);
    expect(buildArgsFrom(p.values.get('build-arg')!, { B: 'env' })).toEqual({ A: '1', B: 'env' });
    expect(buildArgsFrom(['UNSET'], {})).toEqual({});
  });
});

describe('build-image binary', () => {
  const bin = path.resolve(process.cwd(), 'packages/builder/dist/cli/main.js');
  it.skipIf(!existsSync(bin))('runs the compiled CLI (after tsc -b)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bi-cli-'));
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nENV A=1\n');
    const out = execFileSync(process.execPath, [bin, 'graph', '--json'], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out).stages[0].base).toEqual({ kind: 'scratch' });
    const bad = spawnSync(process.execPath, [bin, 'frobnicate'], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).toBe(2);
  });
});
