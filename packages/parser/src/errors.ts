import { BuildError, type BuildErrorOptions, type SourceLocation } from '@build-image/errors';

/**
 * Stable codes of errors caused by a Dockerfile's text or by the build arguments applied to it.
 * Callers match on these; the messages may improve over time.
 */
export type DockerfileErrorCode =
  | 'E_EMPTY_DOCKERFILE' // no instructions at all (BuildKit: "file with no instructions")
  | 'E_DIRECTIVE' // bad or repeated parser directive (escape=x, two escape lines)
  | 'E_UNKNOWN_INSTRUCTION'
  | 'E_NO_FROM' // no FROM, or an instruction other than ARG before the first FROM
  | 'E_HEREDOC_UNTERMINATED'
  | 'E_JSON_ARRAY' // JSON array with a non-string element
  | 'E_ARGUMENTS' // wrong number or shape of arguments (ENV must have two arguments, ...)
  | 'E_FLAG' // unknown flag, flag on an instruction that takes none, invalid flag value
  | 'E_EXPANSION' // word expansion failed (${x:?msg}, bad substitution, unterminated quote)
  | 'E_DUPLICATE_STAGE'
  | 'E_UNKNOWN_STAGE' // --from / FROM names a stage that does not exist (or is defined later)
  | 'E_CYCLE'
  | 'E_TARGET' // --target names no stage
  | 'E_PLATFORM' // a platform string that cannot be parsed
  | 'E_LINE_TOO_LONG' // a physical line longer than BuildKit's 64 KiB scanner limit
  | 'E_REFERENCE'; // a FROM / --from image reference that is not valid (FROM Builder: uppercase; FROM a@b)

/**
 * An error in a Dockerfile: carries the code, `file:line:column` and the source text so the CLI
 * can print a code frame.
 */
export class DockerfileSyntaxError extends BuildError {
  override readonly name = 'DockerfileSyntaxError';
  declare readonly code: DockerfileErrorCode;

  constructor(code: DockerfileErrorCode, message: string, location: SourceLocation | undefined, options: Omit<BuildErrorOptions, 'location'> = {}) {
    super(code, location ? `${location.file}:${location.line}:${location.column}: ${message}` : message, { ...options, location });
  }
}

/**
 * A word-expansion failure from the shell lexer. The lexer does not know where the word came
 * from; the typed layer rethrows it as a {@link DockerfileSyntaxError} with the instruction's location.
 */
export class ShellExpansionError extends BuildError {
  override readonly name = 'ShellExpansionError';
  constructor(message: string, options: BuildErrorOptions = {}) {
    super('E_EXPANSION', message, options);
  }
}
