import { BuildError } from '@build-image/errors';

/**
 * A `--chmod` value: octal (`0755`, `755`) or symbolic as chmod(1) with a zero umask
 * (`u+x`, `go-w`, `a=rX`, `u=rwx,g=rx,o=`), which BuildKit accepts since Dockerfile 1.14.
 */
export type ModeSpec = { kind: 'octal'; mode: number } | { kind: 'symbolic'; clauses: SymbolicClause[]; text: string };

interface SymbolicClause {
  who: number; // mask of permission bits the clause touches (u: 0o4700, g: 0o2070, o: 0o1007, a: all)
  actions: Array<{ op: '+' | '-' | '='; perms: string }>;
}

const WHO_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

export function parseModeSpec(text: string): ModeSpec {
  if (/^[0-7]+$/.test(text)) {
    const mode = parseInt(text, 8);
    if (mode > 0o7777) throw invalid(text);
    return { kind: 'octal', mode };
  }
  if (/^[0-9]+$/.test(text)) throw invalid(text);
  const clauses: SymbolicClause[] = [];
  for (const part of text.split(',')) {
    const m = /^([ugoa]*)((?:[-+=][rwxXstugo]*)+)$/.exec(part);
    if (!m) throw new BuildError('E_FLAG', `invalid chmod parameter: '${text}'. it should be octal or a symbolic mode like u+x,go-w`, { data: { chmod: text } });
    let who = 0;
    for (const c of m[1]!) who |= WHO_BITS[c]!;
    if (who === 0) who = 0o7777; // no who: like `a` with umask 0
    const actions = [...m[2]!.matchAll(/([-+=])([rwxXstugo]*)/g)].map((a) => ({ op: a[1] as '+' | '-' | '=', perms: a[2]! }));
    clauses.push({ who, actions });
  }
  return { kind: 'symbolic', clauses, text };
}

/** The mode a file gets under `spec`, given its current permission bits. */
export function applyModeSpec(spec: ModeSpec, current: number, isDir: boolean): number {
  // `X` looks at the mode before this spec, as chmod(1) does.
  if (spec.kind === 'octal') return spec.mode;
  let mode = current & 0o7777;
  for (const clause of spec.clauses) {
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

function invalid(text: string): BuildError {
  return new BuildError('E_FLAG', `invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`, { data: { chmod: text } });
}
