/**
 * Instruction flags (`--from=x`, `--link`), checked exactly as BuildKit's BFlags: names are
 * case-sensitive, only declared flags are accepted, a flag may appear once unless it is a list
 * (`--mount`, `--exclude`), booleans take no value or true/false, strings need `=value`, and a
 * lone `--` ends the flags.
 */
import { withSuggestion } from './suggest.js';

type FlagType = 'bool' | 'string' | 'strings';

/** Thrown by {@link FlagSet.parse}; the caller turns it into a located DockerfileSyntaxError. */
export class FlagError extends Error {}

export interface ParsedFlags {
  /** Last value of each string flag that was written. */
  strings: Map<string, string>;
  /** Every value of each list flag, in order. */
  lists: Map<string, string[]>;
  /** Boolean flags that were written, with their value. */
  bools: Map<string, boolean>;
  /** Names written, in first-use order (BuildKit's FlagsUsed). */
  used: string[];
}

export class FlagSet {
  private readonly declared = new Map<string, FlagType>();

  bool(name: string): this {
    this.declared.set(name, 'bool');
    return this;
  }

  string(name: string): this {
    this.declared.set(name, 'string');
    return this;
  }

  strings(name: string): this {
    this.declared.set(name, 'strings');
    return this;
  }

  /** Parses raw `--name[=value]` words. Throws {@link FlagError} with BuildKit's wording. */
  parse(words: readonly string[]): ParsedFlags {
    const out: ParsedFlags = { strings: new Map(), lists: new Map(), bools: new Map(), used: [] };
    for (const word of words) {
      if (word === '--') break;
      if (!word.startsWith('--')) throw new FlagError(`arg should start with -- : ${word}`);
      const eq = word.indexOf('=');
      const flagName = eq === -1 ? word : word.slice(0, eq);
      const hasValue = eq !== -1;
      const value = hasValue ? word.slice(eq + 1) : '';
      const name = flagName.slice(2);
      const type = this.declared.get(name);
      if (type === undefined) {
        const known = [...this.declared.keys()];
        const hint = known.length === 0 ? 'this instruction takes no flags' : `valid flags here: ${known.map((k) => `--${k}`).join(', ')}`;
        throw new FlagError(`${withSuggestion(`unknown flag: ${flagName}`, name, known)}; ${hint}`);
      }
      if (out.used.includes(name) && type !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}; give it once`);
      if (!out.used.includes(name)) out.used.push(name);
      switch (type) {
        case 'bool': {
          if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName} or ${flagName}=true|false`);
          const v = value.toLowerCase();
          if (v === 'true' || v === '') out.bools.set(name, true);
          else if (v === 'false') out.bools.set(name, false);
          else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
          break;
        }
        case 'string':
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName}=<value>`);
          out.strings.set(name, value);
          break;
        case 'strings': {
          if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}; write ${flagName}=<value>`);
          const list = out.lists.get(name) ?? [];
          list.push(value);
          out.lists.set(name, list);
          break;
        }
      }
    }
    return out;
  }
}
