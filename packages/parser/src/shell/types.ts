/**
 * The contract of the shell-word lexer (BuildKit's `frontend/dockerfile/shell.Lex`).
 */

/** Where variables are looked up: a map, or a function returning undefined for an unset name. */
export type EnvLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

export interface LexOptions {
  /** Keep quotes in the output (BuildKit RawQuotes). Default false. */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit RawEscapes). Default false. */
  rawEscapes?: boolean;
  /** Leave `$VAR` of an unset VAR as written instead of expanding to '' (BuildKit SkipUnsetEnv). */
  skipUnsetEnv?: boolean;
  /** Do not process quotes at all (BuildKit SkipProcessQuotes). */
  skipProcessQuotes?: boolean;
}

export interface ExpandResult {
  result: string;
  /** Names that were referenced and set (BuildKit's "matched"): the build args a step really used. */
  matched: Set<string>;
  /** Names that were referenced but unset. */
  unmatched: Set<string>;
}
