/**
 * Word splitting as BuildKit's parser does it before any expansion: the instruction keyword,
 * the leading `--flags`, and the quote-aware word list of ENV, LABEL and ARG.
 */
import { decodeUtf8, encodeUtf8, goTrimSpace, isGoSpace } from './gotext.js';

/** BuildKit's `reWhitespace`: `[\t\v\f\r ]+` (ASCII only; no newline, no Unicode spaces). */
const RE_WHITESPACE = /[\t\v\f\r ]+/;
/** Phases of BuildKit's word scanners. */
const SPACES = 0;
const WORD = 1;
const QUOTE = 2;

const RE_WHITESPACE_G = /[\t\v\f\r ]+/g;

/** `reWhitespace.Split(s, -1)`. */
export function splitWhitespace(s: string): string[] {
  return s.split(RE_WHITESPACE_G);
}

/** `reWhitespace.Split(s, 2)`: the text before the first run, and everything after it. */
export function splitWhitespaceOnce(s: string): [string] | [string, string] {
  const m = RE_WHITESPACE.exec(s);
  if (!m) return [s];
  return [s.slice(0, m.index), s.slice(m.index + m[0].length)];
}

/**
 * BuildKit's `parseWords`: split on Unicode whitespace, keeping quotes and escape characters in
 * the words (they are removed later, during expansion). Used by ENV, LABEL and ARG.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  let phase: number = SPACES;
  let quote = '';
  let blankOK = false;
  let word = '';
  const n = rest.length;
  // Escape and quote characters are ASCII and every Go space is in the BMP, so walking UTF-16
  // units gives the same words as Go's walk over runes.
  for (let pos = 0; pos <= n; pos++) {
    const ch = pos < n ? rest[pos]! : '';
    if (phase === SPACES) {
      if (pos === n) break;
      if (isGoSpace(ch.charCodeAt(0))) continue;
      phase = WORD;
    }
    if (pos === n) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === WORD) {
      if (isGoSpace(ch.charCodeAt(0))) {
        phase = SPACES;
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
      }
      if (ch === escapeToken) {
        if (pos + 1 === n) continue; // an escape token at the very end is dropped
        // Outside quotes the escape token and the next character are both kept, even a quote.
        word += ch;
        pos++;
        word += rest[pos]!;
        continue;
      }
      word += ch;
      continue;
    }
    // QUOTE
    if (ch === quote) phase = WORD;
    // Single quotes cannot escape anything.
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      word += ch;
      pos++;
      word += rest[pos]!;
      continue;
    }
    word += ch;
  }
  return words;
}


/** Go's `unicode.IsSpace(rune(b))` for one byte: BuildKit tests bytes, so 0x85 and 0xA0 count. */
function isSpaceByte(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0x85 || b === 0xa0;
}

/**
 * BuildKit's `extractBuilderFlags`. It walks bytes, not characters, and writes each byte as a
 * code point: a non-ASCII character in a flag comes out as its Latin-1 reading of the UTF-8 bytes
 * (BuildKit's behaviour, kept for identical results), and the continuation bytes 0x85 and 0xA0
 * end a flag word.
 *
 * @returns the rest of the line after the flags, and the flags with quotes and escapes removed.
 */
export function extractBuilderFlags(line: string, escapeToken: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  // Nothing to do unless the first word starts with `--`: the common case stays string-only.
  const first = line.search(/[^\t\n\v\f\r ]/);
  if (first < 0) return { rest: '', flags };
  if (!line.startsWith('--', first)) return { rest: line.slice(first), flags };

  const bytes = encodeUtf8(line);
  const esc = escapeToken.charCodeAt(0);
  const n = bytes.length;
  let phase: number = SPACES;
  let word = '';
  let quote = 0;
  let blankOK = false;
  const restFrom = (pos: number): string => decodeUtf8(bytes.subarray(pos));
  for (let pos = 0; pos <= n; pos++) {
    let ch = pos < n ? bytes[pos]! : 0;
    if (phase === SPACES) {
      if (pos === n) break;
      if (isSpaceByte(ch)) continue;
      // Only a word starting with `--` is a flag.
      if (ch !== 0x2d || pos + 1 === n || bytes[pos + 1] !== 0x2d) return { rest: restFrom(pos), flags };
      phase = WORD;
    }
    if (pos === n) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === WORD) {
      if (isSpaceByte(ch)) {
        phase = SPACES;
        if (word === '--') return { rest: restFrom(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOK = true;
        phase = QUOTE;
        continue;
      }
      if (ch === esc) {
        if (pos + 1 === n) continue;
        pos++;
        ch = bytes[pos]!;
      }
      word += String.fromCharCode(ch);
      continue;
    }
    // QUOTE: unlike parseWords, the escape works inside single quotes too.
    if (ch === quote) {
      phase = WORD;
      continue;
    }
    if (ch === esc) {
      if (pos + 1 === n) {
        phase = WORD;
        continue;
      }
      pos++;
      ch = bytes[pos]!;
    }
    word += String.fromCharCode(ch);
  }
  return { rest: '', flags };
}

/** BuildKit's `splitCommand`: keyword as written, flags, and the trimmed rest. */
export function splitCommand(line: string, escapeToken: string): { cmd: string; flags: string[]; args: string } {
  const parts = splitWhitespaceOnce(goTrimSpace(line));
  if (parts.length === 1) return { cmd: parts[0], flags: [], args: '' };
  const { rest, flags } = extractBuilderFlags(parts[1], escapeToken);
  return { cmd: parts[0], flags, args: goTrimSpace(rest) };
}
