/**
 * Translates the Go RE2 regular expressions that moby/patternmatcher builds from .dockerignore
 * patterns into equivalent JavaScript RegExps (`u` flag, code-point semantics).
 *
 * patternmatcher copies most pattern characters into the regexp verbatim, so a pattern like `[*]`
 * becomes `[[^/]*]` and `a]` becomes `a]`; in Go these are valid and mean something specific, while
 * in a JS `u` RegExp a lone `]` is a syntax error and escapes differ (`\a` is BEL in Go, `\#` is
 * invalid in JS). Translating token by token keeps Go's meaning, including the cases where Go
 * rejects the expression (an out-of-order range such as `d-O`), which must fail the build.
 */

export class GoRegexpError extends Error {
  override readonly name = 'GoRegexpError';
}

const cp = (c: number): string => `\\u{${c.toString(16)}}`;

// Go's Perl classes are ASCII-only; `\s` is [\t\n\f\r ] (no \v), unlike JS.
const PERL_CLASSES: Record<string, string> = {
  d: '0-9',
  w: '0-9A-Za-z_',
  s: '\\t\\n\\f\\r ',
};

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\u{0}-\\u{7f}',
  blank: '\\t ',
  cntrl: '\\u{0}-\\u{1f}\\u{7f}',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };

function isAlnum(c: string): boolean {
  return /^[0-9A-Za-z]$/.test(c);
}

/** Parses one escaped character (after `\`) that stands for a single code point, Go rules. */
function parseEscapeChar(chars: string[], i: number): { code: number; next: number } | undefined {
  const c = chars[i];
  if (c === undefined) throw new GoRegexpError('trailing backslash at end of expression');
  if (c in SIMPLE_ESCAPES) return { code: SIMPLE_ESCAPES[c]!, next: i + 1 };
  if (c >= '0' && c <= '7') {
    // A lone non-zero digit is a backreference, which RE2 does not support.
    if (c !== '0' && !(chars[i + 1] !== undefined && chars[i + 1]! >= '0' && chars[i + 1]! <= '7')) {
      throw new GoRegexpError(`invalid escape sequence: \\${c}`);
    }
    let j = i;
    let v = 0;
    while (j < i + 3 && chars[j] !== undefined && chars[j]! >= '0' && chars[j]! <= '7') v = v * 8 + Number(chars[j++]);
    return { code: v, next: j };
  }
  if (c === 'x') {
    if (chars[i + 1] === '{') {
      const close = chars.indexOf('}', i + 2);
      const hex = close < 0 ? '' : chars.slice(i + 2, close).join('');
      if (!/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new GoRegexpError('invalid escape sequence: \\x{');
      return { code: parseInt(hex, 16), next: close + 1 };
    }
    const hex = (chars[i + 1] ?? '') + (chars[i + 2] ?? '');
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new GoRegexpError('invalid escape sequence: \\x');
    return { code: parseInt(hex, 16), next: i + 3 };
  }
  const code = c.codePointAt(0)!;
  if (code < 0x80 && !isAlnum(c)) return { code, next: i + 1 };
  return undefined;
}

/** Translates a Go class body starting after `[`; returns the JS class and the index after `]`. */
function translateClass(chars: string[], start: number): { js: string; next: number } {
  let i = start;
  let negated = false;
  if (chars[i] === '^') {
    negated = true;
    i++;
  }
  let body = '';
  let first = true;
  for (;;) {
    const c = chars[i];
    if (c === undefined) throw new GoRegexpError('missing closing ]');
    if (c === ']' && !first) {
      i++;
      break;
    }
    first = false;
    if (c === '[' && chars[i + 1] === ':') {
      const end = chars.indexOf(']', i + 2);
      const inner = end < 0 ? '' : chars.slice(i + 2, end).join('');
      const m = /^(\^?)([a-z]+):$/.exec(inner);
      if (m) {
        const set = POSIX_CLASSES[m[2]!];
        if (set === undefined) throw new GoRegexpError(`invalid character class range: [:${inner}]`);
        if (m[1]) throw new GoRegexpError('negated POSIX class inside a class is not supported');
        body += set;
        i = end + 1;
        continue;
      }
    }
    if (c === '\\') {
      const e = chars[i + 1];
      if (e !== undefined && e.toLowerCase() in PERL_CLASSES) {
        if (e !== e.toLowerCase()) throw new GoRegexpError(`negated class \\${e} inside a class is not supported`);
        body += PERL_CLASSES[e]!;
        i += 2;
        continue;
      }
    }
    const lo = classChar(chars, i);
    i = lo.next;
    let hi = lo.code;
    if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
      const h = classChar(chars, i + 1);
      hi = h.code;
      i = h.next;
      if (hi < lo.code) throw new GoRegexpError('invalid character class range');
    }
    body += hi === lo.code ? cp(lo.code) : `${cp(lo.code)}-${cp(hi)}`;
  }
  return { js: `[${negated ? '^' : ''}${body}]`, next: i };
}

function classChar(chars: string[], i: number): { code: number; next: number } {
  const c = chars[i];
  if (c === undefined) throw new GoRegexpError('missing closing ]');
  if (c === '\\') {
    const e = parseEscapeChar(chars, i + 1);
    if (!e) throw new GoRegexpError(`invalid escape sequence: \\${chars[i + 1]}`);
    return e;
  }
  return { code: c.codePointAt(0)!, next: i + 1 };
}

/**
 * Compiles a Go regexp (the subset patternmatcher can produce, plus the escapes a user can smuggle
 * in through `\x` in a pattern) to a JS RegExp with the same matches.
 *
 * @throws GoRegexpError when Go's `regexp.Compile` would reject the expression.
 */
export function compileGoRegexp(src: string): RegExp {
  const chars = Array.from(src);
  let out = '';
  let i = 0;
  let depth = 0;
  // Whether the previous token can take a quantifier (Go rejects `**`, `(*`, `^*` would be ok in Go
  // but patternmatcher never emits it).
  let canRepeat = false;
  while (i < chars.length) {
    const c = chars[i]!;
    switch (c) {
      case '(':
        if (chars[i + 1] === '?') throw new GoRegexpError('unsupported group syntax');
        out += '(?:';
        depth++;
        i++;
        canRepeat = false;
        continue;
      case ')':
        if (depth === 0) throw new GoRegexpError('unexpected )');
        depth--;
        out += ')';
        i++;
        canRepeat = true;
        continue;
      case '*':
      case '+':
      case '?':
        if (!canRepeat) throw new GoRegexpError(`missing argument to repetition operator: ${c}`);
        out += c;
        i++;
        if (chars[i] === '?') {
          out += '?';
          i++;
        }
        canRepeat = false;
        continue;
      case '.':
        // Go's '.' does not match '\n' but, unlike JS, does match '\r', U+2028 and U+2029.
        out += '[^\\n]';
        i++;
        canRepeat = true;
        continue;
      case '^':
        out += '^';
        i++;
        canRepeat = false;
        continue;
      case '$':
        out += '$';
        i++;
        canRepeat = false;
        continue;
      case '|':
        out += '|';
        i++;
        canRepeat = false;
        continue;
      case '[': {
        const cls = translateClass(chars, i + 1);
        out += cls.js;
        i = cls.next;
        canRepeat = true;
        continue;
      }
      case '\\': {
        const e = chars[i + 1];
        if (e === undefined) throw new GoRegexpError('trailing backslash at end of expression');
        if (e === 'A') { out += '^'; i += 2; canRepeat = false; continue; }
        if (e === 'z') { out += '$'; i += 2; canRepeat = false; continue; }
        if (e === 'b' || e === 'B') { out += '\\' + e; i += 2; canRepeat = false; continue; }
        if (e.toLowerCase() in PERL_CLASSES) {
          out += `[${e === e.toLowerCase() ? '' : '^'}${PERL_CLASSES[e.toLowerCase()]}]`;
          i += 2;
          canRepeat = true;
          continue;
        }
        if (e === 'Q') {
          // \Q...\E quotes literally up to \E or the end.
          let k = i + 2;
          let lit = '';
          while (k < chars.length && !(chars[k] === '\\' && chars[k + 1] === 'E')) lit += cp(chars[k++]!.codePointAt(0)!);
          i = k < chars.length ? k + 2 : k;
          out += lit;
          canRepeat = lit !== '';
          continue;
        }
        const esc = parseEscapeChar(chars, i + 1);
        if (!esc) throw new GoRegexpError(`invalid escape sequence: \\${e}`);
        out += cp(esc.code);
        i = esc.next;
        canRepeat = true;
        continue;
      }
      case '{': {
        // patternmatcher escapes '{', so a bare one only arrives via user escapes; Go treats a
        // '{' that does not start a valid repeat as a literal.
        out += cp(0x7b);
        i++;
        canRepeat = true;
        continue;
      }
      default:
        out += cp(c.codePointAt(0)!);
        i++;
        canRepeat = true;
    }
  }
  if (depth !== 0) throw new GoRegexpError('missing closing )');
  try {
    return new RegExp(out, 'u');
  } catch (e) {
    throw new GoRegexpError(`cannot translate expression: ${(e as Error).message}`);
  }
}
