/**
 * Go's `strconv.Quote` (the `%q` verb). BuildKit names the failing word with `%q` in
 * `failed to process "…": …`, so an error message can be compared with BuildKit's byte for byte.
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

const NAMED_ESCAPES: Readonly<Record<number, string>> = {
  0x07: '\\a', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x0b: '\\v',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** `s` as a double-quoted Go string literal, escaping exactly what `strconv.Quote` escapes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const c of s) {
    const r = c.codePointAt(0) as number;
    if (r === 0x22 || r === 0x5c) {
      out += '\\' + c;
    } else if (r === 0x20 || (r >= 0x21 && r < 0x7f) || (r >= 0xa0 && PRINTABLE.test(c))) {
      out += c;
    } else if (NAMED_ESCAPES[r] !== undefined) {
      out += NAMED_ESCAPES[r];
    } else if (r < 0x20 || r === 0x7f) {
      out += '\\x' + hex(r, 2);
    } else if (r >= 0xd800 && r <= 0xdfff) {
      // A lone surrogate cannot come from UTF-8; Go would see U+FFFD.
      out += '\\ufffd';
    } else if (r < 0x10000) {
      out += '\\u' + hex(r, 4);
    } else {
      out += '\\U' + hex(r, 8);
    }
  }
  return out + '"';
}
