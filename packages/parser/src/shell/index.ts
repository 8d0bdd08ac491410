/**
 * Word expansion for Dockerfile instructions: BuildKit's `shell.Lex` (`$VAR`, `${VAR:-x}`,
 * `${VAR#pat}`, `${VAR/pat/repl}`, quotes, escapes, word splitting). Failures are
 * `ShellExpansionError` (`E_EXPANSION`) with BuildKit's message.
 */
export type * from './types.js';
export { ShellLex } from './lex.js';
