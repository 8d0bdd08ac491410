/**
 * Docker-style flag parsing: `--flag value`, `--flag=value`, short `-f value`, repeated flags
 * (`--build-arg K=V` many times), booleans, and `--` to end flags. Unknown flags are usage errors.
 */
import { UsageError } from './io.js';

export interface FlagDef {
  name: string;
  short?: string;
  type: 'string' | 'boolean' | 'list';
}

export interface ParsedArgs {
  values: Map<string, string[]>;
  booleans: Set<string>;
  positionals: string[];
}

export function parseFlags(argv: string[], defs: FlagDef[]): ParsedArgs {
  const out: ParsedArgs = { values: new Map(), booleans: new Set(), positionals: [] };
  const byName = new Map(defs.map((d) => [d.name, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    let def: FlagDef | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      if (eq !== -1) inline = a.slice(eq + 1);
      def = byName.get(name);
      if (!def) throw new UsageError(`unknown flag: --${name}`);
    } else if (a.startsWith('-') && a.length > 1) {
      const name = a.slice(1, 2);
      if (a.length > 2) inline = a.slice(2).replace(/^=/, '');
      def = byShort.get(name);
      if (!def) throw new UsageError(`unknown shorthand flag: '${name}' in ${a}`);
    } else {
      out.positionals.push(a);
      continue;
    }
    if (def.type === 'boolean') {
      if (inline !== undefined && !['true', 'false'].includes(inline)) throw new UsageError(`invalid argument "${inline}" for --${def.name}: expected true or false`);
      if (inline === 'false') out.booleans.delete(def.name);
      else out.booleans.add(def.name);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${def.name}`);
      value = argv[++i]!;
    }
    const list = out.values.get(def.name) ?? [];
    if (def.type === 'string') list.length = 0;
    list.push(value);
    out.values.set(def.name, list);
  }
  return out;
}

/**
 * `--build-arg` values: `K=V`, or `K` alone which takes K from the environment and is dropped
 * when unset (docker's rule).
 */
export function buildArgsFrom(values: string[], env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === -1) {
      const fromEnv = env[v];
      if (fromEnv !== undefined) out[v] = fromEnv;
    } else {
      if (eq === 0) throw new UsageError(`invalid build-arg "${v}": the name is empty; use --build-arg NAME=value`);
      out[v.slice(0, eq)] = v.slice(eq + 1);
    }
  }
  return out;
}
