/**
 * BuildKit parser conformance: upstream's testfiles (dump byte-equal, negatives rejected, line
 * numbers) and the generated set (dump plus ast.json field by field, negatives with messages).
 * The data is read in place from /work/shared/conformance.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpTree, parseDockerfile, type SyntaxNode, type SyntaxTree } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONFORMANCE = path.resolve(here, '../../../../shared/conformance');
const UPSTREAM = path.join(CONFORMANCE, 'buildkit-parser');
const GENERATED = path.join(CONFORMANCE, 'buildkit-parser-generated');

const dirs = (p: string): string[] => readdirSync(p).sort();
const read = (...p: string[]): string => readFileSync(path.join(...p), 'utf8');

/** Our tree in the shape of the reference `ast.json` files (see real-world/README.md). */
function toReferenceAst(tree: SyntaxTree, file: string): unknown {
  const instr = (n: SyntaxNode, top: boolean): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    if (top) {
      o.startLine = n.range.startLine;
      o.endLine = n.range.endLine;
    }
    o.keyword = n.keyword;
    o.flags = n.flags;
    o.json = n.json;
    o.args = n.args;
    if (n.sub) o.sub = instr(n.sub, false);
    if (top && n.heredocs.length > 0) o.heredocs = n.heredocs.map((h) => ({ ...h }));
    if (top) o.original = n.original;
    return o;
  };
  return { file, escapeToken: tree.escapeToken, warnings: tree.warnings.map((w) => w.message), instructions: tree.children.map((c) => instr(c, true)) };
}

describe('buildkit-parser/testfiles (upstream TestParseCases)', () => {
  const root = path.join(UPSTREAM, 'testfiles');
  const cases = dirs(root);
  it('has all 33 cases', () => expect(cases).toHaveLength(33));
  it.each(cases)('%s dumps byte-equal to result', (name) => {
    const tree = parseDockerfile(read(root, name, 'Dockerfile'));
    expect(dumpTree(tree)).toBe(read(root, name, 'result'));
  });
});

describe('buildkit-parser/testfiles-negative (upstream TestParseErrorCases)', () => {
  const root = path.join(UPSTREAM, 'testfiles-negative');
  const expected: Record<string, [string, string]> = {
    empty_dockerfile: ['E_EMPTY_DOCKERFILE', 'file with no instructions'],
    only_comments: ['E_EMPTY_DOCKERFILE', 'file with no instructions'],
    env_no_value: ['E_ARGUMENTS', 'ENV must have two arguments'],
    'shykes-nested-json': ['E_JSON_ARRAY', 'when using JSON array syntax, arrays must be comprised of strings only'],
  };
  it('has the 4 known cases', () => expect(dirs(root)).toEqual(Object.keys(expected).sort()));
  it.each(dirs(root))('%s is rejected', (name) => {
    const text = read(root, name, 'Dockerfile');
    let err: unknown;
    try {
      parseDockerfile(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileSyntaxError);
    const e = err as DockerfileSyntaxError;
    expect(e.code).toBe(expected[name]![0]);
    expect(e.message).toContain(expected[name]![1]);
    expect(e.data.reason).toBe(expected[name]![1]);
    expect(e.source).toBe(text);
    expect(e.location?.file).toBe('Dockerfile');
  });
});

describe('buildkit-parser/testfile-line (upstream TestParseIncludesLineNumbers)', () => {
  it('has root [5,31] and children [5,5] [11,12] [17,31]', () => {
    const tree = parseDockerfile(read(UPSTREAM, 'testfile-line', 'Dockerfile'));
    expect([tree.range.startLine, tree.range.endLine]).toEqual([5, 31]);
    expect(tree.children.map((c) => [c.range.startLine, c.range.endLine])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
    expect(tree.directives).toEqual([{ name: 'escape', value: '\\', line: 1 }]);
  });
});

describe('buildkit-parser-generated/testfiles', () => {
  const root = path.join(GENERATED, 'testfiles');
  it('has all 11 cases', () => expect(dirs(root)).toHaveLength(11));
  it.each(dirs(root))('%s: dump and ast.json match', (name) => {
    const tree = parseDockerfile(read(root, name, 'Dockerfile'));
    expect(dumpTree(tree)).toBe(read(root, name, 'result'));
    expect(toReferenceAst(tree, 'Dockerfile')).toEqual(JSON.parse(read(root, name, 'ast.json')));
  });
});

describe('buildkit-parser-generated/testfiles-negative', () => {
  const root = path.join(GENERATED, 'testfiles-negative');
  const codes: Record<string, string> = {
    'bad-escape-directive': 'E_DIRECTIVE',
    'duplicate-directive': 'E_DIRECTIVE',
    'heredoc-unterminated': 'E_HEREDOC_UNTERMINATED',
    'json-nonstring': 'E_JSON_ARRAY',
  };
  it('has the 4 known cases', () => expect(dirs(root)).toEqual(Object.keys(codes).sort()));
  it.each(dirs(root))('%s is rejected with the reference message', (name) => {
    const text = read(root, name, 'Dockerfile');
    let err: unknown;
    try {
      parseDockerfile(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DockerfileSyntaxError);
    const e = err as DockerfileSyntaxError;
    expect(e.code).toBe(codes[name]);
    expect(e.data.reason).toBe(read(root, name, 'error').trim());
    expect(e.message).toContain(read(root, name, 'error').trim());
  });
});
