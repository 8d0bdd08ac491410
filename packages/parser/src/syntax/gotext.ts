/**
 * Go's text primitives as BuildKit's parser uses them. They differ from JavaScript's in small
 * ways that show up in conformance results: Go's `unicode.IsSpace` has U+0085 but not U+FEFF,
 * `strings.ToLower` uses simple case mapping (`İ` → `i`), and `strconv.Quote` escapes
 * non-printable runes as `\xNN` / `\uNNNN` / `\UNNNNNNNN`.
 */

/** Go's `unicode.IsSpace` for a code point. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  return cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/** The code point that ends at UTF-16 index `end - 1` (a low surrogate joins its high half). */
function codePointBefore(s: string, end: number): { cp: number; width: number } {
  const lo = s.charCodeAt(end - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && end >= 2) {
    const hi = s.charCodeAt(end - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return { cp: (hi - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000, width: 2 };
  }
  return { cp: lo, width: 1 };
}

/** Index of the first character that is not a Go space (`strings.TrimLeftFunc(s, unicode.IsSpace)`). */
export function goSpaceEnd(s: string, from = 0): number {
  let i = from;
  // Every Go space is in the BMP, so one UTF-16 unit per step is exact.
  while (i < s.length && isGoSpace(s.charCodeAt(i))) i++;
  return i;
}

/** `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function goTrimLeftSpace(s: string): string {
  const i = goSpaceEnd(s);
  return i === 0 ? s : s.slice(i);
}

/** `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  const start = goSpaceEnd(s);
  let end = s.length;
  while (end > start) {
    const { cp, width } = codePointBefore(s, end);
    if (!isGoSpace(cp)) break;
    end -= width;
  }
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** `strings.ToLower`: per code point, simple case mapping (no special casing, no final sigma). */
export function goToLower(s: string): string {
  // Fast path: ASCII only.
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    if (ch === '\u0130') {
      out += 'i'; // Go maps U+0130 to plain i; JavaScript's full mapping adds U+0307.
      continue;
    }
    const lower = ch.toLowerCase();
    // A single character lowercased alone never applies final-sigma; any other multi-rune result
    // would be a special casing, which Go does not do.
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const HEX = '0123456789abcdef';

function hex(n: number, width: number): string {
  let s = '';
  for (let i = width - 1; i >= 0; i--) s += HEX[(n >> (i * 4)) & 0xf];
  return s;
}

/** Go's `strconv.IsPrint`. */
export function goIsPrint(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  return PRINTABLE.test(String.fromCodePoint(cp));
}

/**
 * Go's `strconv.Quote`. Lone surrogates U+DC80..U+DCFF stand for single bytes that are not
 * valid UTF-8 (see {@link decodeUtf8}) and print as `\xNN`, as Go prints such a byte. Any other
 * lone surrogate prints as the three bytes Go would have seen.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else if (c >= 0x20 && c < 0x7f) out += s[i];
      else if (c === 0x07) out += '\\a';
      else if (c === 0x08) out += '\\b';
      else if (c === 0x0c) out += '\\f';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else if (c === 0x0b) out += '\\v';
      else out += '\\x' + hex(c, 2);
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = (c - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
        i++;
      }
    }
    if (cp >= 0xdc80 && cp <= 0xdcff) {
      out += '\\x' + hex(cp & 0xff, 2);
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      out += '\\x' + hex(0xe0 | (cp >> 12), 2) + '\\x' + hex(0x80 | ((cp >> 6) & 0x3f), 2) + '\\x' + hex(0x80 | (cp & 0x3f), 2);
    } else if (goIsPrint(cp)) {
      out += String.fromCodePoint(cp);
    } else if (cp < 0x10000) {
      out += '\\u' + hex(cp, 4);
    } else {
      out += '\\U' + hex(cp, 8);
    }
  }
  return out + '"';
}

/** Go's `fmt.Sprintf("%q", []string{...})`. */
export function goQuoteList(items: readonly string[]): string {
  return '[' + items.map(goQuote).join(' ') + ']';
}

/** Replaces lone surrogates with U+FFFD, as decoding UTF-8 would (`String.prototype.toWellFormed`). */
export function toWellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Number of bytes `s` takes in UTF-8 (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Decodes UTF-8 the way Go reads it rune by rune: each byte that does not start a valid sequence
 * is one invalid rune. Such a byte becomes the lone surrogate U+DC00+byte (the "surrogateescape"
 * convention), so that {@link goQuote} can print it as `\xNN` exactly like Go. BuildKit splits
 * some lines on bytes, not characters; this keeps those rare splits faithful.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  const n = bytes.length;
  const cont = (k: number): boolean => k < n && (bytes[k]! & 0xc0) === 0x80;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      // Runs of ASCII in one go.
      let j = i + 1;
      while (j < n && bytes[j]! < 0x80) j++;
      out += String.fromCharCode(...bytes.subarray(i, Math.min(j, i + 4096)));
      i = Math.min(j, i + 4096);
      continue;
    }
    let cp = -1;
    let len = 0;
    if (b >= 0xc2 && b <= 0xdf && cont(i + 1)) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1]! & 0x3f);
      len = 2;
    } else if (b >= 0xe0 && b <= 0xef && cont(i + 1) && cont(i + 2)) {
      const b1 = bytes[i + 1]!;
      const ok = (b !== 0xe0 || b1 >= 0xa0) && (b !== 0xed || b1 < 0xa0);
      if (ok) {
        cp = ((b & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (bytes[i + 2]! & 0x3f);
        len = 3;
      }
    } else if (b >= 0xf0 && b <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      const b1 = bytes[i + 1]!;
      const ok = (b !== 0xf0 || b1 >= 0x90) && (b !== 0xf4 || b1 < 0x90);
      if (ok) {
        cp = ((b & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
        len = 4;
      }
    }
    if (cp < 0) {
      out += String.fromCharCode(0xdc00 + b);
      i++;
    } else {
      out += String.fromCodePoint(cp);
      i += len;
    }
  }
  return out;
}

const textEncoder = new TextEncoder();

/** The inverse of {@link decodeUtf8}: escaped bytes (U+DC80..U+DCFF alone) go back to the raw byte. */
export function encodeUtf8(s: string): Uint8Array {
  if (!/[\uDC80-\uDCFF]/.test(s)) return textEncoder.encode(s);
  const parts: number[] = [];
  let start = 0;
  const flush = (end: number): void => {
    if (end > start) for (const b of textEncoder.encode(s.slice(start, end))) parts.push(b);
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff && !(i > 0 && (s.charCodeAt(i - 1) & 0xfc00) === 0xd800)) {
      flush(i);
      parts.push(c & 0xff);
      start = i + 1;
    }
  }
  flush(s.length);
  return Uint8Array.from(parts);
}
