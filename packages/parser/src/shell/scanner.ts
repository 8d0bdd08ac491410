/**
 * A code-point reader with the behaviour of Go's `text/scanner` as BuildKit's lexer uses it
 * (`Peek` / `Next` only): it yields Unicode code points, `EOF` (-1) at the end, and skips a
 * byte-order mark at the very start of the input. The BOM skip is kept because BuildKit drops a
 * leading U+FEFF from every word it expands, and an expansion must give the same bytes.
 */
export const EOF = -1;

export class RuneScanner {
  private readonly src: string;
  private pos = 0;
  /** The peeked code point; -2 before the first read (so the BOM check runs once). */
  private ch = -2;

  constructor(src: string) {
    this.src = src;
  }

  /** The next code point without consuming it, or {@link EOF}. */
  peek(): number {
    if (this.ch === -2) {
      this.ch = this.read();
      if (this.ch === 0xfeff) this.ch = this.read();
    }
    return this.ch;
  }

  /** Consumes and returns the next code point, or {@link EOF}. */
  next(): number {
    const ch = this.peek();
    if (ch !== EOF) this.ch = this.read();
    return ch;
  }

  private read(): number {
    if (this.pos >= this.src.length) return EOF;
    const cp = this.src.codePointAt(this.pos) as number;
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

/**
 * The text of one code point. `EOF` becomes U+FFFD, as Go's `string(rune(-1))` does: BuildKit
 * prints it in `unsupported modifier (…)` when a `${name` ends without its `}`.
 */
export function runeString(ch: number): string {
  return ch < 0 ? '\uFFFD' : String.fromCodePoint(ch);
}
