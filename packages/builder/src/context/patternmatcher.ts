/**
 * moby/patternmatcher semantics for `.dockerignore` and `COPY --exclude`, compiled to RegExp the
 * way `Pattern.compile` does.
 *
 * Why not minimatch: patternmatcher's rules are not glob rules. `**` at the start of a pattern is a
 * plain suffix test (`**log` matches `catalog`), at the end a plain prefix test (`tmp**` matches
 * `tmpfiles/a`), `a**b` is `a(.*\/)?b` (so it does not match `axb`), `[!x]` is a class containing
 * `!` (not negation), and malformed classes must fail the build. Measured against the shared
 * conformance vectors, minimatch (dot: true, list evaluated last-match-wins with parent checks)
 * answers 7 of the 181 cases.json vectors wrong and accepts 12 of the 14 invalid pattern lists, so
 * each pattern is compiled to the same regular expression patternmatcher builds, then translated
 * from Go RE2 to JS (go-regexp.ts).
 */
import { BadPatternError, goClean, goMatch, goTrimSpace } from './gopath.js';
import { compileGoRegexp, GoRegexpError } from './go-regexp.js';
import { DockerignoreError } from './errors.js';

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** One compiled pattern (an exclusion when it started with `!`). */
export class Pattern {
  /** The cleaned pattern text without the leading `!`. */
  readonly cleaned: string;
  readonly exclusion: boolean;
  private compiled: { type: MatchType; re?: RegExp } | { error: string } | undefined;

  constructor(cleaned: string, exclusion: boolean, private readonly file: string) {
    this.cleaned = cleaned;
    this.exclusion = exclusion;
  }

  toString(): string {
    return this.cleaned;
  }

  /**
   * Whether `path` (slash-separated, relative, clean) matches this pattern alone.
   * @throws DockerignoreError when the pattern's expression does not compile (as Go fails with
   *   ErrBadPattern on every match call).
   */
  match(path: string): boolean {
    const c = (this.compiled ??= this.compile());
    if ('error' in c) {
      throw new DockerignoreError(
        `invalid pattern ${JSON.stringify((this.exclusion ? '!' : '') + this.cleaned)} in ${this.file}: ${c.error}. Fix or remove the pattern.`,
        { pattern: (this.exclusion ? '!' : '') + this.cleaned, file: this.file, reason: c.error },
      );
    }
    switch (c.type) {
      case 'exact':
        return path === this.cleaned;
      case 'prefix':
        return path.startsWith(this.cleaned.slice(0, -2));
      case 'suffix': {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        // `**/foo` also matches `foo` itself.
        return suffix[0] === '/' && path === suffix.slice(1);
      }
      case 'regexp':
        return c.re!.test(path);
    }
  }

  private compile(): { type: MatchType; re?: RegExp } | { error: string } {
    let reg = '^';
    let type: MatchType = 'exact';
    const chars = Array.from(this.cleaned);
    for (let i = 0, n = 0; i < chars.length; n++) {
      const ch = chars[i++]!;
      if (ch === '*') {
        if (chars[i] === '*') {
          i++;
          if (chars[i] === '/') i++;
          if (i >= chars.length) {
            if (type === 'exact') type = 'prefix';
            else {
              reg += '.*';
              type = 'regexp';
            }
          } else {
            reg += '(.*/)?';
            type = 'regexp';
          }
          if (n === 0) type = 'suffix';
        } else {
          reg += '[^/]*';
          type = 'regexp';
        }
      } else if (ch === '?') {
        reg += '[^/]';
        type = 'regexp';
      } else if ('.+()|{}$'.includes(ch)) {
        reg += '\\' + ch;
      } else if (ch === '\\') {
        if (i < chars.length) {
          reg += '\\' + chars[i++]!;
          type = 'regexp';
        } else {
          reg += '\\';
        }
      } else if (ch === '[' || ch === ']') {
        reg += ch;
        type = 'regexp';
      } else {
        reg += ch;
      }
    }
    if (type !== 'regexp') return { type };
    try {
      return { type, re: compileGoRegexp(reg + '$') };
    } catch (e) {
      if (e instanceof GoRegexpError) return { error: e.message };
      throw e;
    }
  }
}

/**
 * Per-pattern results for a directory, handed to its children (patternmatcher's `MatchInfo`).
 * An empty array means "no information" (the path is checked against all its parents).
 */
export type MatchInfo = readonly boolean[];

/**
 * A compiled list of `.dockerignore`-style patterns: the last applicable pattern wins, a pattern
 * matching a parent directory matches everything below it, `!` re-includes.
 *
 * @example
 * const m = new PatternMatcher(['*.log', '!keep.log'])
 * m.matches('a.log') // true (excluded)
 */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** True when any pattern is an exception (`!`). */
  readonly exclusions: boolean;

  /**
   * @param patterns lines as returned by {@link readIgnoreFile} (or `--exclude` values)
   * @param file where the patterns came from, for error messages
   * @throws DockerignoreError for a lone `!` or a pattern Go's `filepath.Match` rejects
   */
  constructor(patterns: readonly string[], file = '.dockerignore') {
    const out: Pattern[] = [];
    let exclusions = false;
    for (const raw of patterns) {
      let p = goTrimSpace(raw);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p[0] === '!') {
        if (p.length === 1) {
          throw new DockerignoreError(
            `illegal exclusion pattern "!" in ${file}: a "!" must be followed by the path to re-include`,
            { pattern: raw, file, reason: 'illegal exclusion pattern: "!"' },
          );
        }
        exclusion = true;
        exclusions = true;
        p = p.slice(1);
      }
      try {
        goMatch(p, '.');
      } catch (e) {
        if (!(e instanceof BadPatternError)) throw e;
        throw new DockerignoreError(
          `invalid pattern ${JSON.stringify(raw)} in ${file}: ${e.reason}. Escape special characters with "\\" or fix the character class.`,
          { pattern: raw, file, reason: e.reason },
          e,
        );
      }
      out.push(new Pattern(p, exclusion, file));
    }
    this.patterns = out;
    this.exclusions = exclusions;
  }

  /**
   * patternmatcher `MatchesOrParentMatches`: whether `path` is excluded, checking the path and
   * every parent directory against each pattern.
   */
  matches(path: string): boolean {
    return this.matchesUsingParentResults(path, []).matched;
  }

  /**
   * patternmatcher `MatchesUsingParentResults`: like {@link matches}, but reuses the per-pattern
   * results of the parent directory (pass `[]` when unknown). Returns the info to pass to children.
   */
  matchesUsingParentResults(path: string, parent: MatchInfo): { matched: boolean; info: MatchInfo } {
    if (parent.length !== 0 && parent.length !== this.patterns.length) {
      throw new Error('wrong number of values in parent match info');
    }
    let matched = false;
    const info = new Array<boolean>(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, i) => {
      let match = parent.length !== 0 ? parent[i]! : false;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(path);
        if (!match && parent.length === 0) {
          const slash = path.lastIndexOf('/');
          if (slash > 0) {
            const dirs = path.slice(0, slash).split('/');
            for (let k = 1; k <= dirs.length && !match; k++) match = pattern.match(dirs.slice(0, k).join('/'));
          }
        }
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info };
  }
}
