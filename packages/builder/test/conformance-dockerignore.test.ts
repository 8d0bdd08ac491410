/**
 * BuildKit .dockerignore conformance: every vector of /work/shared/conformance/dockerignore, read
 * in place.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BuildError } from '@build-image/errors';
import { PatternMatcher, readIgnoreFile, walkContext, type MatchInfo } from '../src/context/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.resolve(here, '../../../../shared/conformance/dockerignore');
const load = <T>(name: string): T => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as T;

interface Case { id: string; patterns: string[]; path: string; excluded: boolean }
interface Invalid { id: string; patterns: string[]; path: string; error: 'parse' | 'match' }
interface Walk { id: string; dockerignore: string[]; tree: string[]; sent: string[] }

const cases = load<Case[]>('cases.json');
const invalid = load<Invalid[]>('invalid-patterns.json');
const walks = load<Walk[]>('walk-cases.json');

describe('cases.json', () => {
  it('has the 181 vectors', () => expect(cases).toHaveLength(181));
  it.each(cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
    const m = new PatternMatcher(readIgnoreFile(c.patterns.join('\n')));
    expect(m.matches(c.path)).toBe(c.excluded);
    // The walker's incremental form must agree with the one-shot form.
    const parts = c.path.split('/');
    let info: MatchInfo = [];
    let matched = false;
    for (let k = 1; k <= parts.length; k++) {
      ({ matched, info } = m.matchesUsingParentResults(parts.slice(0, k).join('/'), info));
    }
    expect(matched).toBe(c.excluded);
  });
});

describe('invalid-patterns.json', () => {
  it('has the 14 vectors', () => expect(invalid).toHaveLength(14));
  it.each(invalid.map((c) => [c.id, c] as const))('%s fails', (_id, c) => {
    let stage: 'parse' | 'match' | 'none' = 'parse';
    let err: unknown;
    try {
      const m = new PatternMatcher(readIgnoreFile(c.patterns.join('\n')), '.dockerignore');
      stage = 'match';
      m.matches(c.path);
      stage = 'none';
    } catch (e) {
      err = e;
    }
    expect(stage).toBe(c.error);
    expect(BuildError.is(err)).toBe(true);
    expect((err as BuildError).code).toBe('E_DOCKERIGNORE');
    expect((err as BuildError).message).toContain('.dockerignore');
    // A match-stage error must recur on every call, never turn into "not excluded".
    if (c.error === 'match') {
      const m = new PatternMatcher(readIgnoreFile(c.patterns.join('\n')));
      expect(() => m.matches(c.path)).toThrow(/invalid pattern "\[Build-Only\]"/);
      expect(() => m.matches(c.path)).toThrow(/invalid pattern/);
    }
  });
});

describe('walk-cases.json', () => {
  const roots: string[] = [];
  afterAll(async () => {
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  });
  it('has the 22 vectors', () => expect(walks).toHaveLength(22));
  it.each(walks.map((w) => [w.id, w] as const))('%s', async (_id, w) => {
    const root = await mkdtemp(path.join(tmpdir(), 'bi-walk-'));
    roots.push(root);
    for (const t of w.tree) {
      const abs = path.join(root, t);
      if (t.endsWith('/')) await mkdir(abs, { recursive: true });
      else {
        await mkdir(path.dirname(abs), { recursive: true });
        await writeFile(abs, t);
      }
    }
    const entries = await walkContext(root, readIgnoreFile(w.dockerignore.join('\n')));
    const sent = entries.map((e) => (e.type === 'dir' ? e.path + '/' : e.path));
    expect(new Set(sent)).toEqual(new Set(w.sent));
    expect(sent).toHaveLength(w.sent.length);
  });
});
