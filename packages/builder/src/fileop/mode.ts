/**
 * Applying a `--chmod` value (validated by the parser's `parseChmod`) to a file's mode: octal
 * replaces it, symbolic (`u+x`, `go-w`, `a=rX`) works as chmod(1) with a zero umask, which is
 * what BuildKit's copier does since Dockerfile 1.14.
 */
import type { ChmodSpec } from '@build-image/parser';

interface SymbolicClause {
  who: number; // mask of permission bits the clause touches (u: 0o4700, g: 0o2070, o: 0o1007, a: all)
  actions: Array<{ op: '+' | '-' | '='; perms: string }>;
}

const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };
const parsed = new Map<string, SymbolicClause[]>();

function clausesOf(text: string): SymbolicClause[] {
  let clauses = parsed.get(text);
  if (!clauses) {
    clauses = text.split(',').map((part) => {
      const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(part);
      let who = 0;
      for (const c of m?.[1] ?? '') who |= WHO_BITS[c]!;
      const actions = [...(m?.[2] ?? '').matchAll(/([-+=])([rwxXstugo]*)/g)].map((a) => ({ op: a[1] as '+' | '-' | '=', perms: a[2]! }));
      return { who: who || 0o7777, actions }; // no "who" means all, with umask 0
    });
    parsed.set(text, clauses);
  }
  return clauses;
}

/**
 * The mode a file gets under `spec`, given its current permission bits.
 *
 * @example
 * ```ts
 * applyChmod({ kind: 'octal', mode: 0o640 }, 0o755, false) // 0o640
 * ```
 */
export function applyChmod(spec: ChmodSpec, current: number, isDir: boolean): number {
  // `X` looks at the mode before this spec, as chmod(1) does.
  if (spec.kind === 'octal') return spec.mode;
  let mode = current & 0o7777;
  for (const clause of clausesOf(spec.text)) {
    for (const { op, perms } of clause.actions) {
      let bits = 0;
      for (const p of perms) {
        switch (p) {
          case 'r': bits |= 0o444; break;
          case 'w': bits |= 0o222; break;
          case 'x': bits |= 0o111; break;
          case 'X': if (isDir || (current & 0o111) !== 0) bits |= 0o111; break;
          case 's': bits |= 0o6000; break;
          case 't': bits |= 0o1000; break;
          case 'u': bits |= copyClass((mode >> 6) & 7); break;
          case 'g': bits |= copyClass((mode >> 3) & 7); break;
          case 'o': bits |= copyClass(mode & 7); break;
        }
      }
      bits &= clause.who;
      if (op === '+') mode |= bits;
      else if (op === '-') mode &= ~bits;
      else mode = (mode & ~clause.who) | bits;
    }
  }
  return mode;
}

function copyClass(rwx: number): number {
  return (rwx << 6) | (rwx << 3) | rwx;
}
