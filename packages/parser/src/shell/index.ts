export type * from './types.js';
export { ShellLex } from './lex.js';
