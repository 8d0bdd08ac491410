/**
 * Real-world conformance: 272 public Dockerfiles, each parsed and compared with the reference
 * parser's dump (`expected/*.result`) and AST details (`expected/*.ast.json`) field by field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dumpTree, parseDockerfile, type SyntaxNode, type SyntaxTree } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '../../../../shared/conformance/real-world');
const files = readdirSync(ROOT)
  .filter((n) => n.endsWith('.Dockerfile'))
  .sort();
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

describe('real-world Dockerfiles', () => {
  it('has all 272 files', () => expect(files).toHaveLength(272));

  it.each(files)('%s', (name) => {
    const tree = parseDockerfile(read(ROOT, name), { file: name });
    expect(dumpTree(tree)).toBe(read(ROOT, 'expected', `${name}.result`));
    expect(toReferenceAst(tree, name)).toEqual(JSON.parse(read(ROOT, 'expected', `${name}.ast.json`)));
  });

  it('parses the whole corpus in linear time (well under a second)', () => {
    const texts = files.map((n) => read(ROOT, n));
    const t0 = performance.now();
    for (const t of texts) parseDockerfile(t);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
  });
});
