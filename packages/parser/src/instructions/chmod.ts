/**
 * `--chmod` values as BuildKit accepts them: an octal number up to 07777, or a symbolic mode in
 * chmod(1) syntax (`u+x`, `go-w`, `a=rX,u+s`), checked with the grammar of BSD setmode that
 * BuildKit uses (tonistiigi/dchapes-mode).
 */
import type { ChmodSpec } from './types.js';

export class ChmodError extends Error {}

/** @example parseChmod('0755') // { kind: 'octal', mode: 0o755 } */
export function parseChmod(text: string): ChmodSpec {
  const nonOctal = () => new ChmodError(`invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`);
  if (/^[0-7]+$/.test(text)) {
    const mode = parseInt(text, 8);
    if (mode > 0o7777) throw nonOctal();
    return { kind: 'octal', mode };
  }
  if (text === '') throw new ChmodError('invalid syntax');
  // Starts with a digit but is not octal: BuildKit reports the octal error for numeric-looking values.
  if (/^[0-9]/.test(text)) throw nonOctal();
  if (!isSymbolicMode(text)) throw new ChmodError(`invalid chmod parameter: '${text}': invalid syntax; use octal (0755) or symbolic (u+x,g-w) form`);
  return { kind: 'symbolic', text };
}

/** The setmode grammar: clause(,clause)*, clause = [ugoa]* (op [rwxXst]* | op [ugo])+ . */
function isSymbolicMode(s: string): boolean {
  let i = 0;
  for (;;) {
    while (i < s.length && 'augo'.includes(s[i]!)) i++;
    if (i >= s.length) return false;
    // at least one op
    if (!'+-='.includes(s[i]!)) return false;
    while (i < s.length && '+-='.includes(s[i]!)) {
      i++;
      while (i < s.length && 'rstwxXugo'.includes(s[i]!)) i++;
    }
    if (i === s.length) return true;
    if (s[i] !== ',') return false;
    i++;
  }
}
