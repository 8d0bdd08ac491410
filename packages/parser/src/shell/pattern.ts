/**
 * Shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`, matched the way BuildKit matches them.
 *
 * BuildKit turns the pattern into a Go regular expression (`*` → `.*` or `.*?`, `?` → `.`, no
 * bracket expressions) and runs Go's RE2 engine: leftmost-first matches, and `.` never matches a
 * newline. A JavaScript RegExp would backtrack (exponential on `*a*a*a*b` over a long value), so
 * this module compiles the pattern to a tiny program and runs it on a Pike VM: the same
 * leftmost-first priorities as RE2, in O(length of value × length of pattern).
 */
import { EOF, RuneScanner, runeString } from './scanner.js';
import { isDigit, isLetter } from './unicode.js';

/** A pattern the lexer cannot use; the message is BuildKit's (`invalid escape '\x'`). */
export class PatternError extends Error {}

/** Opcodes; any value >= 0 is a literal code point. */
const ANY = -1; // `?`: one character other than '\n'
const STAR = -2; // `*`: any run of characters other than '\n'
const NEWLINE = 0x0a;

/** A compiled pattern: a sequence of literals, `?` and `*`; `greedy` picks `.*` over `.*?`. */
export interface ShellPattern {
  readonly ops: Int32Array;
  readonly greedy: boolean;
}

/**
 * Compiles a pattern with BuildKit's rules: `*` and `?` are wildcards, `\*`, `\?` and `\\` are
 * literals, `\}` and `\/` are `}` and `/` (escaped so they do not end the `${…}`), and any other
 * backslash escape, or a trailing backslash, is an error.
 */
export function compileShellPattern(pattern: string, greedy: boolean): ShellPattern {
  const ops: number[] = [];
  // Go's text/scanner reads the pattern, so a leading BOM is skipped here too.
  const s = new RuneScanner(pattern);
  for (let tok = s.next(); tok !== EOF; tok = s.next()) {
    if (tok === 0x2a) {
      // `**` matches exactly what `*` matches, with the same priorities; one state is cheaper.
      if (ops[ops.length - 1] !== STAR) ops.push(STAR);
    } else if (tok === 0x3f) {
      ops.push(ANY);
    } else if (tok === 0x5c) {
      const after = s.peek();
      if (after === 0x7d || after === 0x2f) continue;
      tok = s.next();
      if (tok !== 0x2a && tok !== 0x3f && tok !== 0x5c) throw new PatternError(`invalid escape '\\${runeString(tok)}'`);
      ops.push(tok);
    } else {
      ops.push(tok);
    }
  }
  return { ops: Int32Array.from(ops), greedy };
}

/** One run queue of the VM: threads in priority order, at most one per program counter. */
class ThreadList {
  readonly pcs: Int32Array;
  readonly starts: Int32Array;
  readonly marks: Int32Array;
  count = 0;
  stamp = 1;

  constructor(size: number) {
    this.pcs = new Int32Array(size);
    this.starts = new Int32Array(size);
    this.marks = new Int32Array(size);
  }

  clear(): void {
    this.count = 0;
    this.stamp++;
  }

  push(pc: number, start: number): void {
    this.pcs[this.count] = pc;
    this.starts[this.count] = start;
    this.count++;
  }
}

/**
 * Adds the thread at `pc` and everything reachable from it without consuming input, in RE2's
 * priority order. A `*` state is both a "consume one more character" thread and a way on to the
 * next state; greedy stars prefer consuming, lazy ones prefer moving on.
 */
function addThread(p: ShellPattern, list: ThreadList, pc: number, start: number): void {
  const { ops } = p;
  const end = ops.length;
  let j = pc;
  for (;;) {
    if (list.marks[j] === list.stamp) break;
    list.marks[j] = list.stamp;
    if (j < end && ops[j] === STAR) {
      if (p.greedy) list.push(j, start);
      j++;
      continue;
    }
    list.push(j, start);
    break;
  }
  if (!p.greedy) {
    // The stars passed on the way, lowest priority last: the one nearest `pc`.
    for (let k = j - 1; k >= pc; k--) if (ops[k] === STAR) list.push(k, start);
  }
}

/**
 * Go `Regexp.FindStringIndex` for the compiled pattern, searching from `from`: the leftmost
 * match, and among those the one RE2's priorities prefer. Returns [start, end) or undefined.
 */
export function findMatch(p: ShellPattern, text: string, from: number, anchored: boolean): [number, number] | undefined {
  const size = p.ops.length + 1;
  const match = p.ops.length;
  let clist = new ThreadList(size);
  let nlist = new ThreadList(size);
  let found: [number, number] | undefined;
  let pos = from;
  for (;;) {
    if (clist.count === 0 && (found !== undefined || (anchored && pos !== from))) break;
    if (found === undefined && (!anchored || pos === from)) addThread(p, clist, 0, pos);
    const cp = pos < text.length ? (text.codePointAt(pos) as number) : EOF;
    const width = cp > 0xffff ? 2 : 1;
    nlist.clear();
    for (let i = 0; i < clist.count; i++) {
      const pc = clist.pcs[i] as number;
      const start = clist.starts[i] as number;
      if (pc === match) {
        // First-match mode: this thread wins over every lower-priority one.
        found = [start, pos];
        break;
      }
      if (cp === EOF) continue;
      const op = p.ops[pc] as number;
      if (op === STAR) {
        if (cp !== NEWLINE) addThread(p, nlist, pc, start);
      } else if (op === ANY ? cp !== NEWLINE : cp === op) {
        addThread(p, nlist, pc + 1, start);
      }
    }
    if (cp === EOF) break;
    pos += width;
    [clist, nlist] = [nlist, clist];
  }
  return found;
}

function invalidPattern(pattern: string, err: unknown): never {
  if (err instanceof PatternError) throw new PatternError(`invalid pattern (${pattern}) in substitution: ${err.message}`);
  throw err;
}

/** `${value#pattern}` (`greedy`: `##`): removes the shortest (longest) matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  let p: ShellPattern;
  try {
    p = compileShellPattern(pattern, greedy);
  } catch (err) {
    invalidPattern(pattern, err);
  }
  const m = findMatch(p, value, 0, true);
  return m ? value.slice(m[1]) : value;
}

/**
 * `${value%pattern}` (`greedy`: `%%`). Like BuildKit, it reverses the value and the pattern and
 * trims a prefix, so errors name the reversed pattern as BuildKit's do.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** Reverses a pattern by code points, keeping each `\x` escape pair in order. */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const last = runes.length - 1;
  const out = new Array<string>(runes.length);
  for (let i = 0; i <= last; ) {
    const tok = runes[i] as string;
    const outIdx = last - i;
    if (tok === '\\' && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = runes[i + 1] as string;
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join('');
}

/** Reverses a string by code points. */
export function reverseString(s: string): string {
  return Array.from(s).reverse().join('');
}

/**
 * `${value/pattern/replacement}` (`all`: `//`). The first form inserts the replacement as is;
 * the second goes through Go's `ReplaceAllString`, whose template expands `$0` / `${0}` to the
 * matched text, `$$` to `$`, and any other `$name` to nothing.
 */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  let p: ShellPattern;
  try {
    p = compileShellPattern(pattern, true);
  } catch (err) {
    invalidPattern(pattern, err);
  }
  if (!all) {
    const m = findMatch(p, value, 0, false);
    return m ? value.slice(0, m[0]) + replacement + value.slice(m[1]) : value;
  }
  // Go's Regexp.replaceAll loop: an empty match right after a match is not replaced, and the
  // search always moves on by at least one character.
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= value.length) {
    const m = findMatch(p, value, searchPos, false);
    if (!m) break;
    out += value.slice(lastMatchEnd, m[0]);
    if (m[1] > lastMatchEnd || m[0] === 0) out += expandTemplate(replacement, value.slice(m[0], m[1]));
    lastMatchEnd = m[1];
    const cp = value.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > m[1]) searchPos += width;
    else if (searchPos + 1 > m[1]) searchPos++;
    else searchPos = m[1];
  }
  return out + value.slice(lastMatchEnd);
}

/** Go `Regexp.Expand` for a pattern with no capture groups: only group 0 (the match) exists. */
function expandTemplate(template: string, matched: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  for (;;) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    const ref = extractReference(template, i);
    if (ref === undefined) {
      out += '$'; // malformed: the `$` is literal text
      continue;
    }
    i = ref.rest;
    if (ref.name === '0') out += matched;
  }
  return out + template.slice(i);
}

/** Go regexp `extract`: a `name` or `{name}` of letters, digits and `_` after a `$`. */
function extractReference(s: string, at: number): { name: string; rest: number } | undefined {
  let i = at;
  const brace = s[i] === '{';
  if (brace) i++;
  const nameStart = i;
  while (i < s.length) {
    const cp = s.codePointAt(i) as number;
    if (!isLetter(cp) && !isDigit(cp) && cp !== 0x5f) break;
    i += cp > 0xffff ? 2 : 1;
  }
  if (i === nameStart) return undefined;
  const name = s.slice(nameStart, i);
  if (brace) {
    if (s[i] !== '}') return undefined;
    i++;
  }
  return { name, rest: i };
}
