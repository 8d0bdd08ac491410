/**
 * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`), read as BuildKit's
 * `DirectiveParser` does: only in the comment block at the very top of the file.
 */
import { LineParseError } from './dispatch.js';
import type { ParserDirective } from './types.js';

const VALID = new Set(['syntax', 'escape', 'check']);

/** Go's `\s` (RE2): `[\t\n\f\r ]`. */
function isReSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/**
 * Matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` without a backtracking regex (the lazy
 * group makes the literal regex quadratic on long blank runs).
 */
export function matchDirective(s: string): { key: string; value: string } | undefined {
  let i = 0;
  const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (!isAlpha(s.charCodeAt(0))) return undefined;
  i = 1;
  while (i < s.length && (isAlpha(s.charCodeAt(i)) || (s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39))) i++;
  const key = s.slice(0, i);
  while (i < s.length && isReSpace(s.charCodeAt(i))) i++;
  if (s[i] !== '=') return undefined;
  i++;
  const valueArea = s.slice(i);
  // `.` does not match a newline (none can occur in a line) so the whole area is eligible.
  if (valueArea.length === 0) return undefined;
  let start = 0;
  while (start < valueArea.length && isReSpace(valueArea.charCodeAt(start))) start++;
  // All blanks: `\s*` gives one back so that `.+?` has a character.
  if (start === valueArea.length) return { key, value: valueArea.slice(-1) };
  let end = valueArea.length;
  while (end > start && isReSpace(valueArea.charCodeAt(end - 1))) end--;
  return { key, value: valueArea.slice(start, end) };
}

/** State of the directive block while the parser walks the first lines. */
export class DirectiveReader {
  readonly directives: ParserDirective[] = [];
  private done = false;
  escapeToken: '\\' | '`' = '\\';

  /**
   * Looks at one line (newline and leading whitespace already removed).
   *
   * @returns true if the line was a directive.
   * @throws LineParseError for a repeated directive or a bad escape token.
   */
  readLine(line: string, lineNumber: number): boolean {
    if (this.done) return false;
    if (!line.startsWith('#')) {
      this.done = true;
      return false;
    }
    let i = 1;
    // Go's unicode.IsSpace, but only BMP code points are spaces.
    while (i < line.length && /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/.test(line[i]!)) i++;
    const m = matchDirective(line.slice(i));
    const name = m?.key.toLowerCase();
    if (!m || !name || !VALID.has(name)) {
      this.done = true;
      return false;
    }
    if (this.directives.some((d) => d.name === name)) {
      throw new LineParseError('E_DIRECTIVE', `only one ${name} parser directive can be used`);
    }
    const directive: ParserDirective = { name: name as ParserDirective['name'], value: m.value, line: lineNumber };
    this.directives.push(directive);
    if (name === 'escape') {
      if (m.value !== '`' && m.value !== '\\') {
        throw new LineParseError('E_DIRECTIVE', `invalid escape token '${m.value}' does not match \` or \\`);
      }
      this.escapeToken = m.value;
    }
    return true;
  }
}
