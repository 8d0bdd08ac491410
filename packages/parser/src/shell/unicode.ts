/**
 * Go's `unicode` predicates, which decide what BuildKit treats as a variable-name character and
 * as word-splitting whitespace. JavaScript's `\s` and `\w` differ (e.g. `\s` includes U+FEFF and
 * misses U+0085), so the Go definitions are spelled out here.
 */

const LETTER = /^\p{L}$/u;
const DECIMAL_DIGIT = /^\p{Nd}$/u;

/** Go `unicode.IsLetter`: general category L. */
export function isLetter(ch: number): boolean {
  if (ch < 0x80) return (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);
  return LETTER.test(String.fromCodePoint(ch));
}

/** Go `unicode.IsDigit`: general category Nd (only 0-9 below U+0100). */
export function isDigit(ch: number): boolean {
  if (ch < 0x80) return ch >= 0x30 && ch <= 0x39;
  return DECIMAL_DIGIT.test(String.fromCodePoint(ch));
}

/** Go `unicode.IsSpace`: the Latin-1 spaces plus the Unicode White_Space property. */
export function isSpace(ch: number): boolean {
  switch (ch) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0x85: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
      return true;
    default:
      return ch >= 0x2000 && ch <= 0x200a;
  }
}
