/**
 * The syntax layer's output: BuildKit's `parser.Node` as plain, serializable data.
 * Nothing here is interpreted: arguments keep their quotes (except JSON-array elements, which are
 * decoded), variables are not expanded, and unknown keywords are kept (the typed layer rejects them).
 */

/** 1-based, inclusive range in the original file. Columns count UTF-16 code units from 1. */
export interface Range {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

/** A heredoc body attached to an instruction (`RUN <<EOF`, `COPY <<A <<B /dst/`). */
export interface Heredoc {
  /** The terminator word with quotes removed (`EOF` for `<<'EOF'`). */
  name: string;
  /** `3<<EOF` gives 3; 0 when no descriptor was written. */
  fileDescriptor: number;
  /** false when any part of the terminator word was quoted: the body is then not expanded. */
  expand: boolean;
  /** `<<-`: leading tabs are to be stripped from body lines (by the consumer, not here). */
  chomp: boolean;
  /** The body lines, each ending in `\n`, before tab-chomping. */
  content: string;
}

export interface SyntaxNode {
  /** The instruction keyword, lowercased (`from`, `run`, `foobar` for an unknown word). */
  keyword: string;
  /** The keyword exactly as written, for messages (`From`, `RUN`). */
  keywordText: string;
  /** Raw `--flag[=value]` words in order, quotes removed as BuildKit's extractBuilderFlags does. */
  flags: string[];
  /**
   * Arguments as BuildKit's dispatch table splits them. ENV and LABEL come as triples
   * `key, value, separator` (separator `=` for the new form, `` for the old `ENV key value` form).
   * Empty for ONBUILD (see `sub`).
   */
  args: string[];
  /** Exec (JSON array) form. */
  json: boolean;
  /** Heredoc bodies in the order their `<<WORD` appears. */
  heredocs: Heredoc[];
  /** Only for ONBUILD: the wrapped instruction (its range equals the ONBUILD's). */
  sub?: SyntaxNode;
  /** The logical line after joining continuations (for heredoc instructions: the first line only). */
  original: string;
  /** Physical lines covered, including continuation lines, skipped blank/comment lines, heredoc bodies and terminators. */
  range: Range;
  /** Comment lines (without `#`) directly above the instruction, as BuildKit's PrevComment. */
  comments: string[];
}

export interface ParserDirective {
  /** Lowercased: `syntax`, `escape` or `check`. */
  name: 'syntax' | 'escape' | 'check';
  value: string;
  line: number;
}

export interface ParseWarning {
  message: string;
  line: number;
}

export interface SyntaxTree {
  /** The file name given to the parser (default `Dockerfile`), used in every error location. */
  file: string;
  escapeToken: '\\' | '`';
  directives: ParserDirective[];
  children: SyntaxNode[];
  warnings: ParseWarning[];
  /** Lines of the first and last instruction (BuildKit's root StartLine/EndLine). */
  range: Range;
}

export interface ParseOptions {
  /** Name used in error locations. Default `Dockerfile`. */
  file?: string;
}
