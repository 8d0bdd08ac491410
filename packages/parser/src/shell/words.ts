import { isSpace } from './unicode.js';

/**
 * The text of the word being accumulated. BuildKit keeps one such buffer per lexer and every
 * nested `${…}` scan clears it, which drops the partial word in front of a `${name:-…}`,
 * `${name#…}` or `${name/…}` in `ProcessWords` (`ab${x:-c}` splits to `c`). That is observable
 * behaviour, so this module reproduces it by sharing one buffer between nested scans.
 */
export class WordBuffer {
  text = '';
}

/** Splits expanded text into words the way BuildKit's `wordsStruct` does. */
export class WordSplitter {
  private readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly buf: WordBuffer) {}

  /** A character whose whitespace separates words (unquoted text and unquoted expansions). */
  addChar(ch: number): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.text.length !== 0) {
        this.words.push(this.buf.text);
        this.buf.text = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  /** A character kept in the word even if it is whitespace (escaped). */
  addRawChar(ch: number): void {
    this.buf.text += String.fromCodePoint(ch);
    this.inWord = true;
  }

  /** Expanded text that is split on its whitespace. */
  addString(str: string): void {
    for (const c of str) this.addChar(c.codePointAt(0) as number);
  }

  /** Quoted text, kept whole. */
  addRawString(str: string): void {
    this.buf.text += str;
    this.inWord = true;
  }

  /** The finished words; an empty last word is dropped. */
  getWords(): string[] {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}
