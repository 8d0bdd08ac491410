import { rm } from 'node:fs/promises';
import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BuildError } from '@build-image/errors';
import { loadContext, selectSources, type Selection } from '../src/context/index.js';

/** A file tree as an object literal: string = file content, null = empty dir, {link} = symlink. */
export type Tree = Record<string, string | null | { link: string } | { content: string; mode: number }>;

export async function makeTree(tree: Tree, root?: string): Promise<string> {
  const dir = root ?? (await mkdtemp(path.join(tmpdir(), 'bi-ctx-')));
  for (const [rel, v] of Object.entries(tree)) {
    const abs = path.join(dir, rel);
    await mkdir(v === null ? abs : path.dirname(abs), { recursive: true });
    if (v === null) continue;
    if (typeof v === 'string') await writeFile(abs, v);
    else if ('link' in v) await symlink(v.link, abs);
    else {
      await writeFile(abs, v.content);
      await chmod(abs, v.mode);
    }
  }
  return dir;
}

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function ctxOf(tree: Tree, patterns?: string[]) {
  const dir = await makeTree(tree);
  roots.push(dir);
  return loadContext(dir, patterns ? { patterns } : {});
}

/** Flattens a selection to `copyPath<-contextPath` strings per source. */
function flat(sel: Selection): string[][] {
  return sel.sources.map((s) => s.matches.flatMap((m) => m.entries.map((e) => `${e.path}<-${e.entry.path}`)));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return BuildError.is(e) ? e.code : `not a BuildError: ${String(e)}`;
  }
  return undefined;
}

const base: Tree = {
  'Dockerfile': 'FROM x',
  'README.md': 'r',
  'src/a.ts': 'a',
  'src/b.ts': 'b',
  'src/a.test.ts': 't',
  'src/lib/c.ts': 'c',
  'src/lib/c.test.ts': 'ct',
  'docs/x.md': 'x',
  'empty': null,
};

describe('selectSources', () => {
  it('a file source copies the file under its base name', async () => {
    const ctx = await ctxOf(base);
    expect(flat(selectSources(ctx, { sources: ['src/a.ts'] }))).toEqual([['a.ts<-src/a.ts']]);
    // Absolute sources are relative to the context root; ./ and // are cleaned.
    expect(flat(selectSources(ctx, { sources: ['/src//./a.ts'] }))).toEqual([['a.ts<-src/a.ts']]);
  });

  it('a directory source copies its contents, in lexical walk order', async () => {
    const ctx = await ctxOf(base);
    expect(flat(selectSources(ctx, { sources: ['src'] }))).toEqual([
      ['.<-src', 'a.test.ts<-src/a.test.ts', 'a.ts<-src/a.ts', 'b.ts<-src/b.ts', 'lib<-src/lib', 'lib/c.test.ts<-src/lib/c.test.ts', 'lib/c.ts<-src/lib/c.ts'],
    ]);
  });

  it('wildcards use Go filepath.Match per component; a matched directory is copied whole', async () => {
    const ctx = await ctxOf(base);
    const sel = selectSources(ctx, { sources: ['src/*.ts', 's*'] });
    expect(sel.sources[0]!.matches.map((m) => m.matched)).toEqual(['src/a.test.ts', 'src/a.ts', 'src/b.ts']);
    expect(sel.sources[1]!.matches.map((m) => m.matched)).toEqual(['src']);
    expect(selectSources(ctx, { sources: ['*/lib/c.ts'] }).sources[0]!.matches.map((m) => m.matched)).toEqual(['src/lib/c.ts']);
    expect(selectSources(ctx, { sources: ['src/[ab].ts'] }).sources[0]!.matches.map((m) => m.matched)).toEqual(['src/a.ts', 'src/b.ts']);
  });

  it('--exclude is relative to the copied directory with patternmatcher semantics', async () => {
    const ctx = await ctxOf(base);
    expect(flat(selectSources(ctx, { sources: ['src'], excludes: ['*.test.ts'] }))).toEqual([
      ['.<-src', 'a.ts<-src/a.ts', 'b.ts<-src/b.ts', 'lib<-src/lib', 'lib/c.test.ts<-src/lib/c.test.ts', 'lib/c.ts<-src/lib/c.ts'],
    ]);
    expect(flat(selectSources(ctx, { sources: ['src'], excludes: ['**/*.test.ts', 'lib', '!lib/c.ts'] }))).toEqual([
      ['.<-src', 'a.ts<-src/a.ts', 'b.ts<-src/b.ts', 'lib<-src/lib', 'lib/c.ts<-src/lib/c.ts'],
    ]);
    expect(codeOf(() => selectSources(ctx, { sources: ['src'], excludes: ['[z-a]x'] }))).toBe('E_DOCKERIGNORE');
  });

  it('--parents keeps the path from the root or from a /./ pivot', async () => {
    const ctx = await ctxOf(base);
    const a = flat(selectSources(ctx, { sources: ['src/lib/c.ts'], parents: true }))[0]!;
    expect(a).toEqual(['.<-.', 'src<-src', 'src/lib<-src/lib', 'src/lib/c.ts<-src/lib/c.ts']);
    const b = flat(selectSources(ctx, { sources: ['src/./lib/*.ts'], parents: true }))[0]!;
    expect(b).toEqual(['.<-src', 'lib<-src/lib', 'lib/c.test.ts<-src/lib/c.test.ts', 'lib/c.ts<-src/lib/c.ts']);
    expect(codeOf(() => selectSources(ctx, { sources: ['src/nope.ts'], parents: true }))).toBe('E_SOURCE_NOT_FOUND');
  });

  it('sees only what .dockerignore lets through', async () => {
    const ctx = await ctxOf(base, ['docs', '**/*.test.ts']);
    expect(codeOf(() => selectSources(ctx, { sources: ['docs/x.md'] }))).toBe('E_SOURCE_NOT_FOUND');
    expect(flat(selectSources(ctx, { sources: ['src/lib'] }))).toEqual([['.<-src/lib', 'c.ts<-src/lib/c.ts']]);
  });

  it('a missing source or a wildcard without a match is E_SOURCE_NOT_FOUND with the location attached', async () => {
    const ctx = await ctxOf(base);
    const location = { file: 'Dockerfile', line: 3, column: 1, endLine: 3, endColumn: 20 };
    let err: unknown;
    try {
      selectSources(ctx, { sources: ['nope/*.js'], location });
    } catch (e) {
      err = e;
    }
    expect((err as BuildError).code).toBe('E_SOURCE_NOT_FOUND');
    expect((err as BuildError).message).toContain('"nope/*.js"');
    expect((err as BuildError).location).toEqual(location);
    expect(codeOf(() => selectSources(ctx, { sources: ['missing.txt'] }))).toBe('E_SOURCE_NOT_FOUND');
    expect(codeOf(() => selectSources(ctx, { sources: ['README.md/x'] }))).toBe('E_SOURCE_NOT_FOUND');
  });
});

describe('context escapes', () => {
  const tree: Tree = {
    'in/file.txt': 'inside',
    'in/sub/deep.txt': 'deep',
    'link-in': { link: 'in/file.txt' },
    'link-in-dir': { link: 'in' },
    'link-up': { link: '../outside.txt' },
    'link-up-dir': { link: '..' },
    'link-abs': { link: '/etc/passwd' },
    'link-abs-dir': { link: '/etc' },
    'in/rel-up': { link: '../../x' },
    'dir/link-inside-dir': { link: '../in/sub' },
  };

  it('COPY ../x is E_CONTEXT_ESCAPE naming the source', async () => {
    const ctx = await ctxOf(tree);
    let err: unknown;
    try {
      selectSources(ctx, { sources: ['../x'] });
    } catch (e) {
      err = e;
    }
    expect((err as BuildError).code).toBe('E_CONTEXT_ESCAPE');
    expect((err as BuildError).message).toContain('"../x"');
    expect(codeOf(() => selectSources(ctx, { sources: ['in/../../x'] }))).toBe('E_CONTEXT_ESCAPE');
    // A '..' that stays inside is fine.
    expect(flat(selectSources(ctx, { sources: ['in/sub/../file.txt'] }))).toEqual([['file.txt<-in/file.txt']]);
  });

  it('a symlink source pointing outside the context is never followed', async () => {
    const ctx = await ctxOf(tree);
    for (const s of ['link-up', 'link-abs', 'link-abs-dir', 'link-up-dir', 'in/rel-up']) {
      expect(codeOf(() => selectSources(ctx, { sources: [s] })), s).toBe('E_CONTEXT_ESCAPE');
    }
    // Used as a directory in the middle of a path.
    expect(codeOf(() => selectSources(ctx, { sources: ['link-abs-dir/passwd'] }))).toBe('E_CONTEXT_ESCAPE');
    expect(codeOf(() => selectSources(ctx, { sources: ['link-up-dir/etc/*'] }))).toBe('E_CONTEXT_ESCAPE');
  });

  it('with followSymlinks false the links are selected as symlinks', async () => {
    const ctx = await ctxOf(tree);
    const sel = selectSources(ctx, { sources: ['link-abs', 'link-up'], followSymlinks: false });
    const entries = sel.sources.flatMap((s) => s.matches.flatMap((m) => m.entries));
    expect(entries.map((e) => [e.path, e.entry.type, e.entry.linkTarget])).toEqual([
      ['link-abs', 'symlink', '/etc/passwd'],
      ['link-up', 'symlink', '../outside.txt'],
    ]);
  });

  it('symlinks inside the context are followed for the source, kept as links inside directories', async () => {
    const ctx = await ctxOf(tree);
    expect(flat(selectSources(ctx, { sources: ['link-in'] }))).toEqual([['link-in<-in/file.txt']]);
    expect(flat(selectSources(ctx, { sources: ['link-in-dir/sub/deep.txt'] }))).toEqual([['deep.txt<-in/sub/deep.txt']]);
    expect(flat(selectSources(ctx, { sources: ['dir/link-inside-dir'] }))).toEqual([['.<-in/sub', 'deep.txt<-in/sub/deep.txt']]);
    const inDir = selectSources(ctx, { sources: ['in'] }).sources[0]!.matches[0]!.entries;
    const rel = inDir.find((e) => e.path === 'rel-up')!;
    expect(rel.entry.type).toBe('symlink');
    expect(rel.entry.linkTarget).toBe('../../x');
    expect(path.basename(ctx.dir)).toMatch(/^bi-ctx-/);
  });
});
