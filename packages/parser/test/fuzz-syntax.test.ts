/**
 * Property tests: on arbitrary text, and on mutations of real Dockerfiles, parseDockerfile either
 * returns a tree or throws a DockerfileSyntaxError with a location inside the file; it never throws
 * anything else and never hangs. Inputs are bounded so the suite stays fast.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpTree, parseDockerfile } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const REAL = path.resolve(here, '../../../../shared/conformance/real-world');
const corpus = readdirSync(REAL)
  .filter((n) => n.endsWith('.Dockerfile'))
  .sort()
  .slice(0, 60)
  .map((n) => readFileSync(path.join(REAL, n), 'utf8'));

/** Pieces that reach the parser's special cases more often than random characters would. */
const TOKENS = ['\n', '\r\n', ' ', '\t', '\\', '`', '\\\n', '#', '# escape=`\n', '# syntax=x\n', '"', "'", '--', '--mount=type=cache ', '[', ']', '["a", 1]', '["a"]', '=', '<<', '<<EOF', '<<-EOF', "<<'E'", '3<<', 'EOF\n', '$', '${', '${x:-', '}', 'RUN ', 'COPY ', 'ONBUILD ', 'ENV ', 'LABEL ', 'HEALTHCHECK ', 'ARG ', 'FROM ', '\u00a0', 'à', '\u{1F600}', '\ufeff', '\ud800', '\u0000'];

const tokenText = fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 })), { maxLength: 60 }).map((a) => a.join(''));

function check(text: string): void {
  const start = performance.now();
  try {
    const tree = parseDockerfile(text);
    expect(tree.children.length).toBeGreaterThan(0);
    const lines = text.split('\n').length;
    for (const c of tree.children) {
      expect(c.range.startLine).toBeGreaterThanOrEqual(1);
      expect(c.range.endLine).toBeGreaterThanOrEqual(c.range.startLine);
      expect(c.range.endLine).toBeLessThanOrEqual(lines);
    }
    expect(dumpTree(tree).endsWith('\n')).toBe(true);
  } catch (e) {
    if (!(e instanceof DockerfileSyntaxError)) throw e;
    expect(e.location).toBeDefined();
    expect(e.location!.line).toBeGreaterThanOrEqual(1);
    expect(e.source).toBe(text);
  }
  // Linear time: nothing this small may take long.
  expect(performance.now() - start).toBeLessThan(500);
}

describe('parseDockerfile never fails unexpectedly', () => {
  it('on arbitrary unicode strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), check), { numRuns: 600, seed: 42 });
  });

  it('on strings built from Dockerfile tokens', () => {
    fc.assert(fc.property(tokenText, check), { numRuns: 3000, seed: 7 });
  });

  it('on mutations of real Dockerfiles', () => {
    const mutation = fc.record({
      file: fc.nat({ max: corpus.length - 1 }),
      at: fc.double({ min: 0, max: 1, noNaN: true }),
      cut: fc.nat({ max: 20 }),
      insert: tokenText,
    });
    fc.assert(
      fc.property(mutation, ({ file, at, cut, insert }) => {
        const t = corpus[file]!;
        const p = Math.floor(at * t.length);
        check(t.slice(0, p) + insert + t.slice(p + cut));
      }),
      { numRuns: 800, seed: 3 },
    );
  });

  it('on hostile shapes (deep nesting, long runs) within the line limit', () => {
    for (const text of [
      'RUN <<A ' + '${x:-'.repeat(3000) + '\n',
      'FROM a\nRUN a \\\n' + ' b \\\n'.repeat(20000) + 'c\n',
      'CMD ' + '['.repeat(12000) + ']'.repeat(12000) + '\n',
      'CMD [' + '1e999,'.repeat(5000) + '1]\n',
      'ONBUILD '.repeat(8000) + 'RUN x\n',
      '# escape=' + ' '.repeat(60000) + '\n',
      'RUN ' + '<<A '.repeat(3000) + '\n' + 'A\n'.repeat(3000),
    ]) {
      check(text);
    }
  });
});
