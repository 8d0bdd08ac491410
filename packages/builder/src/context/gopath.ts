/**
 * Go's slash-path primitives that BuildKit's context handling is built on: `path.Clean`,
 * `strings.TrimSpace` and `filepath.Match` (Unix flavour: `/` separator, `\` escapes).
 *
 * They are re-implemented rather than approximated because the exact edge cases (a trailing `\`,
 * `[!x]` not being negation, `-` at the edge of a class, the whole pattern being syntax-checked
 * even after a mismatch) decide whether a build succeeds and what it copies.
 */

/** Thrown by {@link goMatch} for a malformed pattern (Go's `filepath.ErrBadPattern`). */
export class BadPatternError extends Error {
  override readonly name = 'BadPatternError';
  constructor(readonly pattern: string, readonly reason: string) {
    super(`syntax error in pattern ${JSON.stringify(pattern)}: ${reason}`);
  }
}

/**
 * Go `path.Clean`: collapses `//`, removes `.` elements, resolves `..` lexically (a rooted path
 * cannot climb above `/`), drops a trailing `/`; the empty path becomes `.`.
 *
 * @example goClean('./a//b/../c/') // 'a/c'
 */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

// unicode.IsSpace: Latin-1 spaces plus the White_Space property. JS `trim()` differs (it also
// strips U+FEFF and keeps U+0085), so the set is spelled out.
const GO_SPACE = new Set([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Go `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && GO_SPACE.has(s.charCodeAt(start))) start++;
  while (end > start && GO_SPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** Compares two names the way Go sorts strings (by UTF-8 bytes, i.e. by code point). */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort above every BMP code point in UTF-8 order.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

// ---- filepath.Match -----------------------------------------------------------------------

type Chars = readonly string[]; // code points

function scanChunk(pattern: Chars, pos: number): { star: boolean; chunkStart: number; chunkEnd: number } {
  let star = false;
  while (pos < pattern.length && pattern[pos] === '*') {
    pos++;
    star = true;
  }
  let inrange = false;
  let i = pos;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case '\\':
        if (i + 1 < pattern.length) i++;
        break;
      case '[':
        inrange = true;
        break;
      case ']':
        inrange = false;
        break;
      case '*':
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunkStart: pos, chunkEnd: i };
}

function getEsc(p: string, chunk: Chars, i: number, end: number): { r: number; next: number } {
  if (i >= end || chunk[i] === '-' || chunk[i] === ']') throw new BadPatternError(p, 'bad range in character class');
  if (chunk[i] === '\\') {
    i++;
    if (i >= end) throw new BadPatternError(p, 'trailing backslash in character class');
  }
  const r = chunk[i]!.codePointAt(0)!;
  i++;
  if (i >= end) throw new BadPatternError(p, 'unterminated character class');
  return { r, next: i };
}

/** Returns the index in `s` after the chunk matched, or -1; throws on a malformed chunk. */
function matchChunk(p: string, chunk: Chars, cs: number, ce: number, s: Chars, si: number): number {
  let failed = false;
  let i = cs;
  while (i < ce) {
    if (!failed && si >= s.length) failed = true;
    const c = chunk[i]!;
    if (c === '[') {
      let r = -1;
      if (!failed) r = s[si++]!.codePointAt(0)!;
      i++;
      let negated = false;
      if (i < ce && chunk[i] === '^') {
        negated = true;
        i++;
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (i < ce && chunk[i] === ']' && nrange > 0) {
          i++;
          break;
        }
        const lo = getEsc(p, chunk, i, ce);
        i = lo.next;
        let hi = lo.r;
        if (chunk[i] === '-') {
          const h = getEsc(p, chunk, i + 1, ce);
          hi = h.r;
          i = h.next;
        }
        if (lo.r <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (c === '?') {
      if (!failed) {
        if (s[si] === '/') failed = true;
        si++;
      }
      i++;
    } else {
      let lit = c;
      if (c === '\\') {
        i++;
        if (i >= ce) throw new BadPatternError(p, 'trailing backslash');
        lit = chunk[i]!;
      }
      if (!failed) {
        if (lit !== s[si]) failed = true;
        si++;
      }
      i++;
    }
  }
  return failed ? -1 : si;
}

/**
 * Go `filepath.Match` on Linux: `*` (any run without `/`), `?` (one code point, not `/`),
 * `[...]`/`[^...]` classes with ranges, `\` escapes. The whole pattern is syntax-checked, so a
 * malformed pattern throws {@link BadPatternError} even when the name would not match.
 *
 * @example goMatch('*.txt', 'a.txt') // true
 */
export function goMatch(pattern: string, name: string): boolean {
  const pat = Array.from(pattern);
  const s = Array.from(name);
  let pos = 0;
  let si = 0;
  outer: while (pos < pat.length) {
    const { star, chunkStart, chunkEnd } = scanChunk(pat, pos);
    pos = chunkEnd;
    if (star && chunkStart === chunkEnd) {
      // A trailing '*' matches the rest unless it contains '/'.
      return !s.slice(si).includes('/');
    }
    let err: unknown;
    let t = -1;
    try {
      t = matchChunk(pattern, pat, chunkStart, chunkEnd, s, si);
    } catch (e) {
      err = e;
    }
    if (t >= 0 && (t === s.length || pos < pat.length)) {
      si = t;
      continue;
    }
    if (err) throw err;
    if (star) {
      for (let i = si; i < s.length && s[i] !== '/'; i++) {
        const t2 = matchChunk(pattern, pat, chunkStart, chunkEnd, s, i + 1);
        if (t2 >= 0) {
          if (pos === pat.length && t2 < s.length) continue;
          si = t2;
          continue outer;
        }
      }
    }
    // Before reporting a mismatch, the rest of the pattern must still be well-formed.
    while (pos < pat.length) {
      const c = scanChunk(pat, pos);
      pos = c.chunkEnd;
      matchChunk(pattern, pat, c.chunkStart, c.chunkEnd, [], 0);
    }
    return false;
  }
  return si === s.length;
}
