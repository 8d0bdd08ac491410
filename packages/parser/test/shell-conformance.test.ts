/**
 * BuildKit's own expansion vectors (`frontend/dockerfile/shell/envVarTest` and `wordsTest`),
 * read in place from the shared conformance data and run the way `lex_test.go` runs them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShellExpansionError } from '../src/errors.js';
import { ShellLex } from '../src/shell/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/conformance/buildkit-shell');

interface EnvVarRow { line: number; platform: string; input: string; expected: string }

function envVarRows(): EnvVarRow[] {
  const rows: EnvVarRow[] = [];
  readFileSync(path.join(dir, 'envVarTest'), 'utf8').split('\n').forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split('|');
    if (fields.length !== 3) throw new Error(`envVarTest:${i + 1}: expected 3 fields`);
    const [platform, input, expected] = fields.map((f) => f.trim()) as [string, string, string];
    rows.push({ line: i + 1, platform, input, expected });
  });
  return rows;
}

type WordsRow = { line: number; input: string; expected: string[]; env: [string, string][] };

function wordsRows(): WordsRow[] {
  const rows: WordsRow[] = [];
  const env: [string, string][] = [];
  const lines = readFileSync(path.join(dir, 'wordsTest'), 'utf8').split('\n');
  // The file ends with a newline; bufio.Scanner yields no empty last line.
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    if (line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      // Trailing spaces of the value are significant.
      const entry = line.slice(3).replace(/^ +/, '');
      const eq = entry.indexOf('=');
      env.push(eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)]);
      return;
    }
    const fields = line.split('|');
    if (fields.length !== 2) throw new Error(`wordsTest:${i + 1}: expected exactly one |`);
    rows.push({
      line: i + 1,
      input: (fields[0] as string).trim(),
      expected: (fields[1] as string).replace(/^ +/, '').split(','),
      env: [...env],
    });
  });
  return rows;
}

describe('envVarTest (ProcessWord, platforms A and U)', () => {
  const rows = envVarRows().filter((r) => r.platform === 'A' || r.platform === 'U');
  const env = new Map([['PWD', '/home'], ['SHELL', 'bash'], ['KOREAN', '한국어'], ['NULL', '']]);
  const lex = new ShellLex('\\');

  it('has every Linux row of the upstream file', () => {
    expect(rows).toHaveLength(228);
    expect(rows.filter((r) => r.expected === 'error')).toHaveLength(36);
  });

  it.each(rows.map((r) => [r.line, r.input, r.expected] as const))('line %i: %s → %s', (_line, input, expected) => {
    if (expected === 'error') {
      expect(() => lex.processWord(input, env)).toThrow(ShellExpansionError);
      try {
        lex.processWord(input, env);
      } catch (err) {
        expect((err as ShellExpansionError).code).toBe('E_EXPANSION');
        expect((err as Error).message.startsWith(`failed to process ${JSON.stringify(input)}: `)).toBe(true);
      }
    } else {
      expect(lex.processWord(input, env)).toBe(expected);
    }
  });
});

describe('wordsTest (ProcessWords, default mode)', () => {
  const rows = wordsRows();
  const lex = new ShellLex('\\');

  it('has every row of the upstream file', () => {
    expect(rows).toHaveLength(24);
    expect(rows.at(-1)?.env).toHaveLength(4);
  });

  it.each(rows.map((r) => [r.line, r.input, r] as const))('line %i: %s', (_line, _input, row) => {
    // Later entries win, as in EnvsFromSlice.
    const env = new Map(row.env);
    let words: string[];
    try {
      words = lex.processWords(row.input, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ShellExpansionError);
      words = ['error'];
    }
    expect(words).toEqual(row.expected);
  });
});
