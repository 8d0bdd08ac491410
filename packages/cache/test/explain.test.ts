import { describe, expect, it } from 'vitest';
import { computeCacheKey, explainMiss, formatMissReason, formatMissReasons, type CacheKey, type Digest, type FileEntry, type KeyPart, type MissReason } from '../src/index.js';

const k = (c: string) => `sha256:${c.repeat(64)}` as CacheKey;
const d = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const pre = (parts: KeyPart[]) => computeCacheKey(parts).preimage;

function step(over: { parent?: CacheKey; op?: string; args?: Record<string, string>; env?: Record<string, string>; platform?: string; base?: Digest; files?: FileEntry[] } = {}): KeyPart[] {
  const parts: KeyPart[] = [
    { type: 'parent', value: over.parent ?? k('1') },
    { type: 'op', value: over.op ?? 'COPY src/ /app/src/' },
    { type: 'platform', value: over.platform ?? 'linux/amd64' },
    { type: 'base', value: over.base ?? d('b') },
    { type: 'files', name: 'source #1', entries: over.files ?? [{ path: 'src/a.ts', hash: 'h-a', mode: 0o644 }, { path: 'src/c.ts', hash: 'h-c', mode: 0o644 }] },
  ];
  for (const [name, value] of Object.entries(over.args ?? { VERSION: '1' })) parts.push({ type: 'arg', name, value });
  for (const [name, value] of Object.entries(over.env ?? {})) parts.push({ type: 'env', name, value });
  return parts;
}

const explain = (now: KeyPart[], before: KeyPart[]) => explainMiss(pre(now), pre(before));
const lines = (rs: MissReason[]) => rs.map(formatMissReason);

describe('explainMiss', () => {
  it('names a changed, added and removed ARG', () => {
    expect(explain(step({ args: { VERSION: '2' } }), step())).toEqual([{ kind: 'arg-changed', name: 'VERSION', before: '1', after: '2' }]);
    expect(lines(explain(step({ args: { VERSION: '2' } }), step()))).toEqual(['ARG VERSION changed ("1" → "2")']);
    expect(lines(explain(step({ args: { VERSION: '1', DEBUG: '' } }), step()))).toEqual(['ARG DEBUG added ("")']);
    expect(lines(explain(step({ args: {} }), step()))).toEqual(['ARG VERSION removed (was "1")']);
  });

  it('names changed ENV', () => {
    expect(lines(explain(step({ env: { PATH: '/b' } }), step({ env: { PATH: '/a' } })))).toEqual(['ENV PATH changed ("/a" → "/b")']);
  });

  it('reports file content, mode, added and removed changes by path', () => {
    const now = step({
      files: [
        { path: 'src/a.ts', hash: 'h-a2', mode: 0o644 },
        { path: 'src/b.ts', hash: 'h-b', mode: 0o644 },
        { path: 'src/c.ts', hash: 'h-c', mode: 0o755 },
      ],
    });
    const before = step({ files: [{ path: 'src/a.ts', hash: 'h-a', mode: 0o644 }, { path: 'src/c.ts', hash: 'h-c', mode: 0o644 }, { path: 'src/d.ts', hash: 'h-d' }] });
    const rs = explain(now, before);
    expect(rs.map((r) => (r.kind === 'file-changed' ? [r.source, r.path, r.change] : r.kind))).toEqual([
      ['source #1', 'src/a.ts', 'content'],
      ['source #1', 'src/b.ts', 'added'],
      ['source #1', 'src/c.ts', 'mode'],
      ['source #1', 'src/d.ts', 'removed'],
    ]);
    expect(lines(rs)).toEqual(['src/a.ts changed', 'src/b.ts added', 'src/c.ts mode changed (0644 → 0755)', 'src/d.ts removed']);
  });

  it('reports parent, op, platform and base changes', () => {
    const rs = explain(step({ parent: k('2'), op: 'COPY . /app', platform: 'linux/arm64', base: d('c') }), step());
    expect(rs).toEqual([
      { kind: 'parent-changed', before: k('1'), after: k('2') },
      { kind: 'base-changed', before: d('b'), after: d('c') },
      { kind: 'platform-changed', before: 'linux/amd64', after: 'linux/arm64' },
      { kind: 'op-changed', before: 'COPY src/ /app/src/', after: 'COPY . /app' },
    ]);
    expect(lines(rs)).toEqual([
      'previous step changed',
      `base image changed (${d('b')} → ${d('c')})`,
      'platform changed ("linux/amd64" → "linux/arm64")',
      'instruction changed ("COPY src/ /app/src/" → "COPY . /app")',
    ]);
  });

  it('reports inputs, secrets, extras and whole sources', () => {
    const now: KeyPart[] = [
      { type: 'input', name: 'builder', value: k('4') },
      { type: 'secret-id', value: 'npmrc' },
      { type: 'extra', name: 'network', value: 'none' },
      { type: 'files', name: 'source #2', entries: [{ path: 'x', hash: '1' }] },
    ];
    const before: KeyPart[] = [
      { type: 'input', name: 'builder', value: k('3') },
      { type: 'secret-id', value: 'token' },
      { type: 'extra', name: 'network', value: 'host' },
      { type: 'files', name: 'source #1', entries: [{ path: 'x', hash: '1' }, { path: 'y', hash: '2' }] },
    ];
    expect(lines(explain(now, before))).toEqual([
      'input builder changed',
      'network changed ("host" → "none")',
      'secret "npmrc" added',
      'secret "token" removed',
      'source #1 removed (2 files)',
      'source #2 added (1 file)',
    ]);
  });

  it('says so when there is no history, nothing changed, or the key format changed', () => {
    expect(explainMiss(pre(step()), undefined)).toEqual([{ kind: 'no-history' }]);
    expect(explain(step(), step())).toEqual([{ kind: 'not-cached' }]);
    expect(explainMiss(pre(step()), { ...pre(step()), version: 0 })).toEqual([{ kind: 'key-version-changed', before: 0, after: 1 }]);
    expect(formatMissReason({ kind: 'no-history' })).toMatch(/no earlier build/);
    expect(formatMissReason({ kind: 'not-cached' })).toMatch(/unchanged.*no longer cached/);
  });

  it('diffs two 20,000-file sources in well under 200 ms', () => {
    const mk = (i: number, salt: string) => ({ path: `src/pkg${String(i % 200).padStart(3, '0')}/f${String(i).padStart(6, '0')}.ts`, hash: `sha256:${salt}${i}`, mode: 0o644 });
    const before = pre([{ type: 'files', name: 'source #1', entries: Array.from({ length: 20_000 }, (_, i) => mk(i, 'x')) }]);
    const nowEntries = Array.from({ length: 20_000 }, (_, i) => mk(i, i % 1000 === 7 ? 'y' : 'x'));
    nowEntries.splice(500, 1); // one removed
    nowEntries.push({ path: 'src/zz-new.ts', hash: 'n', mode: 0o644 }); // one added
    const now = pre([{ type: 'files', name: 'source #1', entries: nowEntries }]);
    explainMiss(now, before); // warm up the JIT once
    const t0 = performance.now();
    const rs = explainMiss(now, before);
    const ms = performance.now() - t0;
    expect(rs).toHaveLength(22); // 20 content changes, 1 removed, 1 added
    expect(rs.filter((r) => r.kind === 'file-changed' && r.change === 'content')).toHaveLength(20);
    expect(ms).toBeLessThan(200);
    const printed = formatMissReasons(rs, { maxFiles: 3 });
    expect(printed).toHaveLength(4);
    expect(printed[3]).toBe('… and 19 more files changed');
  });
});
