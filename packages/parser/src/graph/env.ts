/**
 * Ordered environment lists with the two update rules BuildKit uses: the LLB state env
 * (`AddOrReplace`: the key moves to the end) and the image config env (`addEnv`: replaced in place).
 */
export type EnvPairs = Array<[string, string]>;

export class EnvList {
  private constructor(private readonly pairs: ReadonlyArray<readonly [string, string]>) {}

  static empty(): EnvList {
    return new EnvList([]);
  }

  static fromPairs(pairs: ReadonlyArray<readonly [string, string]>): EnvList {
    let e = EnvList.empty();
    for (const [k, v] of pairs) e = e.addOrReplace(k, v);
    return e;
  }

  get(key: string): string | undefined {
    for (let i = this.pairs.length - 1; i >= 0; i--) if (this.pairs[i]![0] === key) return this.pairs[i]![1];
    return undefined;
  }

  has(key: string): boolean {
    return this.pairs.some((p) => p[0] === key);
  }

  /** LLB state rule: remove then append. */
  addOrReplace(key: string, value: string): EnvList {
    return new EnvList([...this.pairs.filter((p) => p[0] !== key), [key, value]]);
  }

  /** Image config rule: replace in place, else append. */
  setInPlace(key: string, value: string): EnvList {
    const i = this.pairs.findIndex((p) => p[0] === key);
    if (i === -1) return new EnvList([...this.pairs, [key, value]]);
    const next = [...this.pairs];
    next[i] = [key, value];
    return new EnvList(next);
  }

  keys(): string[] {
    return this.pairs.map((p) => p[0]);
  }

  toPairs(): EnvPairs {
    return this.pairs.map(([k, v]) => [k, v]);
  }

  toMap(): Map<string, string> {
    return new Map(this.pairs.map(([k, v]) => [k, v]));
  }
}

/** `K=V` strings (image config form) → pairs; a string without `=` gives an empty value. */
export function envFromStrings(env: readonly string[]): EnvPairs {
  return env.map((s) => {
    const eq = s.indexOf('=');
    return eq === -1 ? [s, ''] : [s.slice(0, eq), s.slice(eq + 1)];
  });
}
