/**
 * The shell-word lexer: BuildKit's `frontend/dockerfile/shell.Lex`, rule for rule. It expands
 * `$VAR` / `${VAR…}` and removes quotes and escapes in the words of ENV, ARG, LABEL, COPY, ADD,
 * WORKDIR, USER, EXPOSE, FROM, ONBUILD … (never in RUN's shell form).
 *
 * The structure follows BuildKit's on purpose, down to its quirks (a nested `${…}` forgets the
 * partial word before it in `processWords`; `${v//p/r}` treats `$0` in `r` as the match; a
 * `${v…}` left as written under `skipUnsetEnv` loses one `/` of `//`): users see these results,
 * and the bar is identical output.
 */
import { ShellExpansionError } from '../errors.js';
import { PatternError, replacePattern, trimPrefix, trimSuffix } from './pattern.js';
import { goQuote } from '../syntax/gotext.js';
import { EOF, RuneScanner, runeString } from './scanner.js';
import type { EnvLookup, ExpandResult, LexOptions } from './types.js';
import { isDigit, isLetter } from './unicode.js';
import { WordBuffer, WordSplitter } from './words.js';

const DOLLAR = 0x24;
const LESS = 0x3c;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

/** A failure inside one word; the top level prefixes it with `failed to process "<word>": `. */
class InnerError extends Error {}

/** POSIX special parameters (`$@`, `$#`, …); `0` is read as a positional parameter first. */
function isSpecialParam(ch: number): boolean {
  switch (String.fromCodePoint(ch)) {
    case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
      return true;
    default:
      return false;
  }
}

function lookup(env: EnvLookup, name: string): string | undefined {
  return typeof env === 'function' ? env(name) : env.get(name);
}

/** The state of expanding one word (BuildKit's `shellWord`). */
class WordExpansion {
  private readonly scanner: RuneScanner;
  private rawEscapes: boolean;
  private readonly wordsBuffer = new WordBuffer();
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    word: string,
    private readonly env: EnvLookup,
    private readonly escapeToken: number,
    private readonly options: Readonly<Required<LexOptions>>,
  ) {
    this.scanner = new RuneScanner(word);
    this.rawEscapes = options.rawEscapes;
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  /** Reads up to `stopChar` (consumed) or the end of the word; `EOF` means "to the end". */
  private processStopOn(stopChar: number, rawEscapes: boolean): { result: string; words: string[] } {
    const s = this.scanner;
    let result = '';
    this.wordsBuffer.text = '';
    const words = new WordSplitter(this.wordsBuffer);
    const quotes = !this.options.skipProcessQuotes;
    const savedRawEscapes = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (s.peek() !== EOF) {
        let ch = s.peek();
        if (stopChar !== EOF && ch === stopChar) {
          s.next();
          return { result, words: words.getWords() };
        }
        if (ch === DOLLAR) {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
        } else if (ch === LESS) {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
        } else if (quotes && ch === SINGLE_QUOTE) {
          const tmp = this.processSingleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else if (quotes && ch === DOUBLE_QUOTE) {
          const tmp = this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
        } else {
          ch = s.next();
          if (ch === this.escapeToken) {
            if (this.rawEscapes) {
              words.addRawChar(ch);
              result += String.fromCodePoint(ch);
            }
            // The escape token escapes the next character; a trailing one is dropped.
            ch = s.next();
            if (ch === EOF) break;
            words.addRawChar(ch);
          } else {
            words.addChar(ch);
          }
          result += String.fromCodePoint(ch);
        }
      }
      if (stopChar !== EOF) {
        throw new InnerError(`unexpected end of statement while looking for matching ${runeString(stopChar)}`);
      }
      return { result, words: words.getWords() };
    } finally {
      this.rawEscapes = savedRawEscapes;
    }
  }

  /** Everything up to the next `'` is literal; there is no escape inside single quotes. */
  private processSingleQuote(): string {
    const s = this.scanner;
    const raw = this.options.rawQuotes;
    let result = '';
    let ch = s.next();
    if (raw) result += String.fromCodePoint(ch);
    for (;;) {
      ch = s.next();
      if (ch === EOF) throw new InnerError('unexpected end of statement while looking for matching single-quote');
      if (ch === SINGLE_QUOTE) {
        if (raw) result += String.fromCodePoint(ch);
        return result;
      }
      result += String.fromCodePoint(ch);
    }
  }

  /** Inside `"…"`, `$` expands, and the escape token escapes only `"`, `$` and itself. */
  private processDoubleQuote(): string {
    const s = this.scanner;
    const raw = this.options.rawQuotes;
    let result = '';
    const open = s.next();
    if (raw) result += String.fromCodePoint(open);
    for (;;) {
      const peeked = s.peek();
      if (peeked === EOF) throw new InnerError('unexpected end of statement while looking for matching double-quote');
      if (peeked === DOUBLE_QUOTE) {
        const close = s.next();
        if (raw) result += String.fromCodePoint(close);
        return result;
      }
      if (peeked === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      let ch = s.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += String.fromCodePoint(ch);
        const after = s.peek();
        if (after === EOF) continue; // the loop then reports the missing quote
        if (after === DOUBLE_QUOTE || after === DOLLAR || after === this.escapeToken) ch = s.next();
      }
      result += String.fromCodePoint(ch);
    }
  }

  /** `$name`, `${name}` and `${name<op>word}`; the scanner is at the `$`. */
  private processDollar(): string {
    const s = this.scanner;
    const skipUnset = this.options.skipUnsetEnv;
    s.next();

    if (s.peek() !== LBRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return '$' + name;
      return value ?? '';
    }

    s.next();
    const first = s.peek();
    if (first === EOF) throw new InnerError("syntax error: missing '}'");
    if (first === LBRACE || first === RBRACE || first === COLON) throw new InnerError('syntax error: bad substitution');

    const name = this.processName();
    let ch = s.next();
    let chs = runeString(ch);

    if (ch === RBRACE) {
      const value = this.getEnv(name);
      if (value === undefined && skipUnset) return `\${${name}}`;
      return value ?? '';
    }

    if (ch === SLASH) return this.processReplace(name);

    let nullIsUnset = false;
    if (ch === COLON) {
      nullIsUnset = true;
      ch = s.next();
      chs += runeString(ch);
    } else if (!'+-?#%'.includes(runeString(ch))) {
      throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    }

    const op = runeString(ch);
    // Patterns keep their escapes: `\*` must reach the pattern compiler as an escape.
    const isPattern = op === '#' || op === '%';
    if (nullIsUnset && isPattern) throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    let word = this.processUntilBrace(isPattern, "syntax error: missing '}'");

    const value = this.getEnv(name);
    if (value === undefined && skipUnset) return `\${${name}${chs}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');

    switch (op) {
      case '-':
        return unset ? word : (value as string);
      case '+':
        return unset ? '' : word;
      case '?':
        if (value === undefined) throw new InnerError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (unset) throw new InnerError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // `#`/`%` remove the shortest match, `##`/`%%` the longest.
        let greedy = false;
        if (word.startsWith(op)) {
          greedy = true;
          word = word.slice(1);
        }
        const v = value ?? '';
        try {
          return op === '%' ? trimSuffix(word, v, greedy) : trimPrefix(word, v, greedy);
        } catch (err) {
          if (err instanceof PatternError) throw new InnerError(err.message);
          throw err;
        }
      }
      default:
        throw new InnerError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  /** `${name/pattern/replacement}` and `${name//pattern/replacement}`; the scanner is past `/`. */
  private processReplace(name: string): string {
    const s = this.scanner;
    const all = s.peek() === SLASH;
    if (all) s.next();
    const pattern = this.processUntil(SLASH, true, "syntax error: missing '/' in ${}");
    const replacement = this.processUntilBrace(true, "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (value === undefined && this.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    try {
      return replacePattern(pattern, value ?? '', replacement, all);
    } catch (err) {
      if (err instanceof PatternError) throw new InnerError(err.message);
      throw err;
    }
  }

  private processUntilBrace(rawEscapes: boolean, atEnd: string): string {
    return this.processUntil(RBRACE, rawEscapes, atEnd);
  }

  /** A nested scan up to `stop`; any failure that leaves the word exhausted becomes `atEnd`. */
  private processUntil(stop: number, rawEscapes: boolean, atEnd: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof InnerError && this.scanner.peek() === EOF) throw new InnerError(atEnd);
      throw err;
    }
  }

  /** A name: all digits after a digit, one special parameter, or letters, digits and `_`. */
  private processName(): string {
    const s = this.scanner;
    let name = '';
    while (s.peek() !== EOF) {
      const ch = s.peek();
      if (name === '' && isDigit(ch)) {
        while (s.peek() !== EOF && isDigit(s.peek())) name += String.fromCodePoint(s.next());
        return name;
      }
      if (name === '' && isSpecialParam(ch)) {
        s.next();
        return String.fromCodePoint(ch);
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      s.next();
      name += String.fromCodePoint(ch);
    }
    return name;
  }

  /** `<<` and the blanks after it stay one unsplit piece, so `<< EOF` remains a heredoc marker. */
  private processPossibleHeredoc(): string {
    const s = this.scanner;
    s.next();
    if (s.peek() !== LESS) return '<';
    s.next();
    let result = '<<';
    for (let ch = s.peek(); ch === 0x09 || ch === 0x0d || ch === 0x20; ch = s.peek()) {
      result += String.fromCodePoint(ch);
      s.next();
    }
    return result;
  }

  /** The value of `name`, or undefined when unset; records the name as matched or unmatched. */
  private getEnv(name: string): string | undefined {
    const value = lookup(this.env, name);
    if (value !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return value;
  }
}

/**
 * Expands words of a Dockerfile like BuildKit's `shell.Lex`.
 *
 * @example
 * ```ts
 * const lex = new ShellLex();
 * lex.processWord('${HOME:-/root}/"my dir"', new Map([['HOME', '/home/me']])); // '/home/me/my dir'
 * lex.processWords('a "b c" $X', new Map([['X', 'd  e']]));                  // ['a', 'b c', 'd', 'e']
 * ```
 */
export class ShellLex {
  /** The escape character: `\` by default, `` ` `` after `# escape=``. */
  readonly escapeToken: '\\' | '`';
  readonly options: Readonly<Required<LexOptions>>;

  constructor(escapeToken: '\\' | '`' = '\\', options: LexOptions = {}) {
    if (escapeToken !== '\\' && escapeToken !== '`') {
      throw new TypeError(`escape token must be '\\' or '\`', got ${JSON.stringify(escapeToken)}`);
    }
    this.escapeToken = escapeToken;
    this.options = {
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
    };
  }

  /**
   * BuildKit `ProcessWord`: expands variables and removes quotes and escapes, without word
   * splitting. Throws {@link ShellExpansionError} (`E_EXPANSION`) with BuildKit's message.
   *
   * @example
   * ```ts
   * new ShellLex().processWord('he${XXX:-${YYY:-yyy}}xx', new Map()); // 'heyyyxx'
   * ```
   */
  processWord(word: string, env: EnvLookup): string {
    return this.processWordWithMatches(word, env).result;
  }

  /**
   * BuildKit `ProcessWordWithMatches`: like {@link processWord}, and also the names that were
   * looked up and set (`matched`) or unset (`unmatched`), e.g. to find the build args a step uses.
   *
   * @example
   * ```ts
   * new ShellLex().processWordWithMatches('${A:-x}$B', new Map([['B', '1']]));
   * // { result: 'x1', matched: Set { 'B' }, unmatched: Set { 'A' } }
   * ```
   */
  processWordWithMatches(word: string, env: EnvLookup): ExpandResult {
    const expansion = this.expansion(word, env);
    const { result } = this.run(word, expansion);
    return { result, matched: expansion.matched, unmatched: expansion.unmatched };
  }

  /**
   * BuildKit `ProcessWords`: expands and removes quotes, then splits on whitespace that is not
   * quoted or escaped (including whitespace that came out of an unquoted expansion); empty words
   * are dropped.
   *
   * @example
   * ```ts
   * new ShellLex().processWords('hello${X}def', new Map([['X', '  ab c']])); // ['hello', 'ab', 'cdef']
   * ```
   */
  processWords(word: string, env: EnvLookup): string[] {
    return this.run(word, this.expansion(word, env)).words;
  }

  private expansion(word: string, env: EnvLookup): WordExpansion {
    return new WordExpansion(word, env, this.escapeToken.codePointAt(0) as number, this.options);
  }

  private run(word: string, expansion: WordExpansion): { result: string; words: string[] } {
    try {
      return expansion.run();
    } catch (err) {
      if (err instanceof InnerError) {
        throw new ShellExpansionError(`failed to process ${goQuote(word)}: ${err.message}`, {
          data: { word, reason: err.message },
        });
      }
      throw err;
    }
  }
}
