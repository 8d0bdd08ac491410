/**
 * Heredoc detection (`RUN <<EOF`, `COPY <<A <<B /dst/`), as BuildKit's `heredocsFromLine` and
 * `ParseHeredoc` do it.
 *
 * BuildKit finds heredoc words by running its shell lexer over the whole logical line with raw
 * quotes, raw escapes and every variable unset-and-kept. Which words come out (and so which
 * `<<WORD`s start a heredoc) depends on that lexer's quirks: whitespace is absorbed right after
 * `<<`, `$`-expansions are split on spaces, a failed lex of the line means "no heredocs at all".
 * This module carries a private copy of just that non-expanding subset, so the syntax layer does
 * not depend on the expanding lexer in `../shell/` (and cannot change when it does).
 */
import { goQuote, isGoSpace } from './gotext.js';
import type { Heredoc } from './types.js';

const EOF = -1;
const MAX_NESTING = 1000;

/** A heredoc word that the lexer could not read (`<<"EOF`): BuildKit fails the whole parse. */
export class HeredocWordError extends Error {}

function isDigitCp(cp: number): boolean {
  if (cp >= 0x30 && cp <= 0x39) return true;
  return cp > 0x7f && /^\p{Nd}$/u.test(String.fromCodePoint(cp));
}

function isLetterCp(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return /^\p{L}$/u.test(String.fromCodePoint(cp));
}

/** Special shell parameters: `$@ $* $# $? $- $$ $! $0`. */
function isSpecialParam(cp: number): boolean {
  return cp === 0x40 || cp === 0x2a || cp === 0x23 || cp === 0x3f || cp === 0x2d || cp === 0x24 || cp === 0x21 || cp === 0x30;
}

interface LexMode {
  rawQuotes: boolean;
  rawEscapes: boolean;
}

/**
 * Shell word splitting with the escape token `\`, every variable unset and kept as written
 * (BuildKit `SkipUnsetEnv` with an empty environment).
 */
class WordLexer {
  private readonly cps: number[];
  private pos = 0;
  private rawEscapes: boolean;
  /** Nesting of `${…}` scans; bounded so a hostile line cannot exhaust the stack. */
  private depth = 0;
  /** BuildKit shares one word buffer between nested scans; an inner `${x:-…}` scan resets it. */
  buffer = '';

  constructor(
    src: string,
    private readonly mode: LexMode,
  ) {
    this.cps = Array.from(src, (c) => c.codePointAt(0)!);
    // Go's text/scanner skips a byte order mark at the very start.
    if (this.cps[0] === 0xfeff) this.pos = 1;
    this.rawEscapes = mode.rawEscapes;
  }

  private peek(): number {
    return this.pos < this.cps.length ? this.cps[this.pos]! : EOF;
  }

  private next(): number {
    return this.pos < this.cps.length ? this.cps[this.pos++]! : EOF;
  }

  words(): string[] {
    return this.processStopOn(EOF, this.mode.rawEscapes).words;
  }

  private processStopOn(stopChar: number, rawEscapes: boolean): { result: string; words: string[] } {
    // Go's goroutine stack would follow any nesting; 1000 levels of `${a:-${b:-…}}` is far past
    // any real Dockerfile, so deeper input is treated as unreadable.
    if (++this.depth > MAX_NESTING) throw new HeredocWordError('substitutions nested too deeply');
    let result = '';
    this.buffer = '';
    const w = new Words(this);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return { result, words: w.getWords() };
        }
        if (ch === 0x24 /* $ */) {
          const tmp = this.processDollar();
          result += tmp;
          w.addString(tmp);
        } else if (ch === 0x3c /* < */) {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          w.addRawString(tmp);
        } else if (ch === 0x27 /* ' */) {
          const tmp = this.processSingleQuote();
          result += tmp;
          w.addRawString(tmp);
        } else if (ch === 0x22 /* " */) {
          const tmp = this.processDoubleQuote();
          result += tmp;
          w.addRawString(tmp);
        } else {
          ch = this.next();
          if (ch === 0x5c /* \ */) {
            if (this.rawEscapes) {
              w.addRawChar(ch);
              result += '\\';
            }
            ch = this.next();
            if (ch === EOF) break;
            w.addRawChar(ch);
          } else {
            w.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stopChar !== EOF) throw new HeredocWordError(`unexpected end of statement while looking for matching ${String.fromCodePoint(stopChar)}`);
      return { result, words: w.getWords() };
    } finally {
      this.rawEscapes = saved;
      this.depth--;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    let ch = this.next();
    if (this.mode.rawQuotes) result += String.fromCodePoint(ch);
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new HeredocWordError('unexpected end of statement while looking for matching single-quote');
      if (ch === 0x27) {
        if (this.mode.rawQuotes) result += "'";
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.mode.rawQuotes) result += String.fromCodePoint(open);
    for (;;) {
      const p = this.peek();
      if (p === EOF) throw new HeredocWordError('unexpected end of statement while looking for matching double-quote');
      if (p === 0x22) {
        this.next();
        if (this.mode.rawQuotes) result += '"';
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === 0x5c) {
        if (this.rawEscapes) result += '\\';
        const q = this.peek();
        if (q === EOF) continue; // the loop then reports the missing quote
        if (q === 0x22 || q === 0x24 || q === 0x5c) ch = this.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  /** `$name`, `${name}`, `${name<op>word}`: with every variable unset, the text is kept. */
  private processDollar(): string {
    this.next();
    if (this.peek() !== 0x7b /* { */) {
      const name = this.processName();
      return name === '' ? '$' : '$' + name;
    }
    this.next();
    const p = this.peek();
    if (p === EOF) throw new HeredocWordError("syntax error: missing '}'");
    if (p === 0x7b || p === 0x7d || p === 0x3a) throw new HeredocWordError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    const str = (c: number): string => (c === EOF ? '\ufffd' : String.fromCodePoint(c));
    let chs = str(ch);
    let nullIsUnset = false;
    if (ch === 0x7d /* } */) return '${' + name + '}';
    if (ch === 0x3a /* : */) {
      nullIsUnset = true;
      ch = this.next();
      chs += str(ch);
    }
    if (nullIsUnset || ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
      const rawEsc = ch === 0x23 || ch === 0x25;
      if (nullIsUnset && rawEsc) throw new HeredocWordError(`unsupported modifier (${chs}) in substitution`);
      const word = this.stopOnOrMissing(0x7d, rawEsc, "syntax error: missing '}'");
      return '${' + name + chs + word + '}';
    }
    if (ch === 0x2f /* / */) {
      if (this.peek() === 0x2f) this.next();
      const pattern = this.stopOnOrMissing(0x2f, true, "syntax error: missing '/' in ${}");
      const replacement = this.stopOnOrMissing(0x7d, true, "syntax error: missing '}'");
      return '${' + name + '/' + pattern + '/' + replacement + '}';
    }
    throw new HeredocWordError(`unsupported modifier (${chs}) in substitution`);
  }

  private stopOnOrMissing(stop: number, rawEscapes: boolean, missing: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (e) {
      if (this.peek() === EOF) throw new HeredocWordError(missing);
      throw e;
    }
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === '' && isDigitCp(ch)) {
        while (this.peek() !== EOF && isDigitCp(this.peek())) name += String.fromCodePoint(this.next());
        return name;
      }
      if (name === '' && isSpecialParam(ch)) {
        this.next();
        return String.fromCodePoint(ch);
      }
      if (!isLetterCp(ch) && !isDigitCp(ch) && ch !== 0x5f) break;
      name += String.fromCodePoint(this.next());
    }
    return name;
  }

  /** `<<` keeps the blanks that follow it in the same word (`<<  EOF` is one word). */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== 0x3c) return '<';
    this.next();
    let spaces = '';
    for (let c = this.peek(); c === 0x09 || c === 0x0d || c === 0x20; c = this.peek()) {
      spaces += String.fromCodePoint(this.next());
    }
    return '<<' + spaces;
  }
}

/** BuildKit's `wordsStruct`, over the lexer's shared buffer. */
class Words {
  private readonly words: string[] = [];
  private inWord = false;
  constructor(private readonly lx: WordLexer) {}

  addChar(cp: number): void {
    if (isGoSpace(cp)) {
      if (this.inWord && this.lx.buffer.length !== 0) {
        this.words.push(this.lx.buffer);
        this.lx.buffer = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }

  addRawChar(cp: number): void {
    this.lx.buffer += String.fromCodePoint(cp);
    this.inWord = true;
  }

  addString(s: string): void {
    for (const c of s) this.addChar(c.codePointAt(0)!);
  }

  addRawString(s: string): void {
    this.lx.buffer += s;
    this.inWord = true;
  }

  getWords(): string[] {
    if (this.lx.buffer.length > 0) {
      this.words.push(this.lx.buffer);
      this.lx.buffer = '';
      this.inWord = false;
    }
    return this.words;
  }
}

function lexWords(src: string, mode: LexMode): string[] {
  return new WordLexer(src, mode).words();
}

/** Go's `\s` (RE2): `[\t\n\f\r ]`. */
function isReSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/** A heredoc found on an instruction line, before its body is read. */
export type HeredocStart = Omit<Heredoc, 'content'> & {
  /** The word as it appeared on the line (`<<'EOF'`), for locating it in messages. */
  word: string;
};

function countQuotes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}

/**
 * BuildKit's `ParseHeredoc`: whether one word (`<<EOF`, `3<<-'X'`) starts a heredoc. The word
 * must match `^(\d*)<<(-?)\s*([^<]*)$` and the terminator must lex to exactly one word.
 *
 * @throws HeredocWordError when the terminator cannot be lexed (`<<"EOF`).
 */
export function parseHeredocWord(word: string): HeredocStart | undefined {
  let i = 0;
  while (i < word.length && word.charCodeAt(i) >= 0x30 && word.charCodeAt(i) <= 0x39) i++;
  const digits = word.slice(0, i);
  if (!word.startsWith('<<', i)) return undefined;
  i += 2;
  const chomp = word[i] === '-';
  if (chomp) i++;
  while (i < word.length && isReSpace(word.charCodeAt(i))) i++;
  const rest = word.slice(i);
  if (rest.includes('<') || rest === '') return undefined;

  let words: string[];
  let wordsRaw: string[];
  try {
    words = lexWords(rest, { rawQuotes: false, rawEscapes: false });
    if (words.length !== 1) return undefined;
    wordsRaw = lexWords(rest, { rawQuotes: true, rawEscapes: false });
  } catch (e) {
    if (e instanceof HeredocWordError) throw new HeredocWordError(`failed to process ${goQuote(rest)}: ${e.message}`);
    throw e;
  }
  if (wordsRaw.length !== words.length) throw new HeredocWordError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const name = words[0]!;
  // Quotes that the unquoting lexer removed mean part of the word was quoted: no expansion.
  const expand = countQuotes(name) === countQuotes(wordsRaw[0]!);
  // Go's ParseUint saturates on overflow (and the error is ignored).
  const fd = digits === '' ? 0 : Math.min(Number(digits), 18446744073709551615);
  return { name, fileDescriptor: fd, expand, chomp, word };
}

/**
 * BuildKit's `heredocsFromLine`: every heredoc word of a logical line, in order. A line that
 * the lexer cannot read (an unterminated quote anywhere) has no heredocs.
 *
 * @throws HeredocWordError from {@link parseHeredocWord}.
 */
export function heredocsFromLine(line: string): HeredocStart[] {
  let words: string[];
  try {
    words = lexWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (e) {
    if (e instanceof HeredocWordError) return [];
    throw e;
  }
  const docs: HeredocStart[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) docs.push(h);
  }
  return docs;
}
