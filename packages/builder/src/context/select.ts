/**
 * COPY/ADD source selection from the build context, with BuildKit's semantics (dockerfile2llb
 * `dispatchCopy` + fsutil `copy.Copy`): Go `filepath.Match` wildcards resolved component-wise, a
 * directory source copies its contents, `--exclude` with patternmatcher semantics relative to the
 * source, `--parents` keeping the path from the context root or from a `/./` pivot.
 *
 * Deliberate difference: where BuildKit would clamp a path to the context root (`../x` becomes
 * `/x`, a symlink to `/etc` is re-read as `<context>/etc`) we fail with `E_CONTEXT_ESCAPE`, since
 * such a source almost always means the user expected a file outside the context.
 */
import type { SourceLocation } from '@build-image/errors';
import { goClean, goMatch } from './gopath.js';
import type { ContextEntry } from './entry.js';
import type { BuildContext } from './build-context.js';
import { PatternMatcher, type MatchInfo } from './patternmatcher.js';
import { ContextEscapeError, DockerignoreError, SourceNotFoundError } from './errors.js';

export interface SelectOptions {
  /** Source paths as written in the instruction (after variable expansion). */
  sources: readonly string[];
  /** `--exclude` patterns, matched relative to each copied directory source. */
  excludes?: readonly string[];
  /** `--parents`: keep each source's path from the context root (or from a `/./` pivot). */
  parents?: boolean;
  /**
   * Follow a symlink named as a source (or matched by a wildcard) to its target inside the context,
   * as Dockerfile COPY does (default true). With false the link itself is selected. Symlinks found
   * inside a copied directory are always kept as symlinks.
   */
  followSymlinks?: boolean;
  /** Location of the instruction, attached to errors. */
  location?: SourceLocation;
}

export interface SelectedEntry {
  /** Path relative to the copy destination (`.` for a copied directory itself). */
  path: string;
  /** The context entry (its `path` is relative to the context root). */
  entry: ContextEntry;
}

export interface SourceMatch {
  /** Context-relative path that was matched, before following a final symlink. */
  matched: string;
  /** Context-relative path actually copied (after following symlinks). */
  resolved: string;
  /** Entries to write, in walk order. */
  entries: SelectedEntry[];
}

export interface SourceSelection {
  source: string;
  matches: SourceMatch[];
}

export interface Selection {
  context: BuildContext;
  sources: SourceSelection[];
}

const MAX_SYMLINKS = 255;

function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Splits a clean relative path at its first component containing a wildcard. */
function splitWildcards(p: string): [string, string] {
  const parts = p === '.' ? [] : p.split('/');
  const k = parts.findIndex(containsWildcards);
  if (k < 0) return [p, ''];
  return [parts.slice(0, k).join('/') || '.', parts.slice(k).join('/')];
}

/** Normalizes a source to a clean context-relative path, rejecting `..` that leaves the root. */
function toContextPath(source: string, original: string, location?: SourceLocation): string {
  const cleaned = goClean(source.replace(/^\/+/, ''));
  if (cleaned === '..' || cleaned.startsWith('../')) {
    throw new ContextEscapeError(original, `the path climbs above the context root ("${cleaned}")`, location);
  }
  return cleaned;
}

class Resolver {
  constructor(
    private readonly ctx: BuildContext,
    private readonly source: string,
    private readonly location: SourceLocation | undefined,
  ) {}

  /**
   * Resolves a clean context-relative path component by component, following symlinks in the
   * middle always and the final one only when `followFinal`.
   */
  resolve(p: string, followFinal: boolean): string | undefined {
    let pending = p === '.' ? [] : p.split('/');
    let cur: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '.' || name === '') continue;
      if (name === '..') {
        if (cur.length === 0) throw new ContextEscapeError(this.source, 'a symlink target climbs above the context root', this.location);
        cur.pop();
        continue;
      }
      const next = [...cur, name].join('/');
      const entry = this.ctx.byPath.get(next);
      if (!entry) return undefined;
      const last = pending.length === 0;
      if (entry.type === 'symlink' && (!last || followFinal)) {
        if (++hops > MAX_SYMLINKS) throw new SourceNotFoundError(this.source, 'too many levels of symbolic links', this.location);
        const target = entry.linkTarget ?? '';
        if (target.startsWith('/')) {
          throw new ContextEscapeError(this.source, `"${next}" is a symlink to the absolute path "${target}"`, this.location);
        }
        // Resolve lexically against the link's directory; leaving the root is an escape.
        const joined = goClean([...cur, target].join('/'));
        if (joined === '..' || joined.startsWith('../')) {
          throw new ContextEscapeError(this.source, `"${next}" is a symlink to "${target}", which is outside the context`, this.location);
        }
        pending = [...(joined === '.' ? [] : joined.split('/')), ...pending];
        cur = [];
        continue;
      }
      if (!last && entry.type !== 'dir') return undefined;
      cur.push(name);
    }
    return cur.length === 0 ? '.' : cur.join('/');
  }
}

interface Matchers {
  include?: PatternMatcher;
  exclude?: PatternMatcher;
}

/**
 * Enumerates what fsutil `copier.copy` writes for a source path: the source itself, and for a
 * directory its contents, honouring include (`--parents`) and exclude (`--exclude`) patterns with
 * lazily created parent directories.
 */
function enumerate(ctx: BuildContext, resolved: string, topName: string, m: Matchers): SelectedEntry[] {
  const out: SelectedEntry[] = [];
  const top = ctx.byPath.get(resolved)!;
  if (top.type !== 'dir') {
    out.push({ path: topName, entry: top });
    return out;
  }
  out.push({ path: '.', entry: top });
  const parents: { sel: SelectedEntry; copied: boolean }[] = [];
  const visit = (dirPath: string, rel: string, incInfo: MatchInfo, excInfo: MatchInfo): void => {
    for (const name of ctx.children.get(dirPath) ?? []) {
      const ctxPath = dirPath === '.' ? name : `${dirPath}/${name}`;
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const entry = ctx.byPath.get(ctxPath)!;
      let include = true;
      let excluded = false;
      let ii: MatchInfo = [];
      let ei: MatchInfo = [];
      if (m.include) {
        const r = m.include.matchesUsingParentResults(relPath, incInfo);
        include = r.matched;
        ii = r.info;
      }
      if (m.exclude) {
        const r = m.exclude.matchesUsingParentResults(relPath, excInfo);
        ei = r.info;
        if (r.matched) {
          include = false;
          excluded = true;
        }
      }
      if (!include && !m.include && !(m.exclude?.exclusions ?? false)) continue;
      const isDir = entry.type === 'dir';
      if (!include && !isDir) continue;
      const sel: SelectedEntry = { path: relPath, entry };
      if (include) {
        for (const p of parents) {
          if (!p.copied) {
            out.push(p.sel);
            p.copied = true;
          }
        }
        out.push(sel);
      }
      if (!isDir) continue;
      parents.push({ sel, copied: include });
      if (!(excluded && !(m.exclude?.exclusions ?? false))) visit(ctxPath, relPath, ii, ei);
      parents.pop();
    }
  };
  visit(resolved, '', [], []);
  return out;
}

function lastName(p: string): string {
  return p === '.' ? '.' : p.slice(p.lastIndexOf('/') + 1);
}

/**
 * Selects what a COPY/ADD instruction copies from the build context, per source, in deterministic
 * (walk) order.
 *
 * @throws ContextEscapeError (`E_CONTEXT_ESCAPE`) for a source outside the context
 * @throws SourceNotFoundError (`E_SOURCE_NOT_FOUND`) for a missing source or a wildcard with no match
 * @throws DockerignoreError (`E_DOCKERIGNORE`) for an invalid `--exclude` pattern
 * @example selectSources(ctx, { sources: ['src/*.ts', 'package.json'], excludes: ['*.test.ts'] })
 */
export function selectSources(ctx: BuildContext, options: SelectOptions): Selection {
  const followSymlinks = options.followSymlinks ?? true;
  const exclude = options.excludes && options.excludes.length > 0 ? new PatternMatcher(options.excludes, '--exclude') : undefined;
  const sources: SourceSelection[] = [];
  for (const source of options.sources) {
    const resolver = new Resolver(ctx, source, options.location);
    const matches: SourceMatch[] = [];
    let base = source;
    let include: PatternMatcher | undefined;
    let required: string | undefined;
    if (options.parents) {
      // BuildKit: copy from the pivot (or the root) with the rest as an include pattern.
      const k = source.indexOf('/./');
      const pattern = k < 0 ? source : source.slice(k + 3);
      base = k < 0 ? '/' : source.slice(0, k);
      const patternPath = toContextPath(pattern, source, options.location);
      try {
        include = new PatternMatcher([patternPath], '--parents source');
      } catch (e) {
        if (e instanceof DockerignoreError) throw new SourceNotFoundError(source, `invalid pattern: ${e.data['reason']}`, options.location);
        throw e;
      }
      if (!containsWildcards(base) && !containsWildcards(pattern)) required = goClean(`${toContextPath(base, source, options.location)}/${patternPath}`);
    }
    const clean = toContextPath(base, source, options.location);
    const [d1, d2] = splitWildcards(clean);
    const candidates: string[] = [];
    if (d2 === '') {
      candidates.push(d1);
    } else {
      const dir = resolver.resolve(d1, followSymlinks);
      const dirEntry = dir === undefined ? undefined : ctx.byPath.get(dir);
      if (dir !== undefined && dirEntry?.type === 'dir') {
        const walk = (p: string, rel: string): void => {
          for (const name of ctx.children.get(p) ?? []) {
            const child = p === '.' ? name : `${p}/${name}`;
            const r = rel === '' ? name : `${rel}/${name}`;
            let ok = false;
            try {
              ok = goMatch(d2, r);
            } catch {
              ok = false; // fsutil ignores the match error here; a bad pattern simply matches nothing
            }
            if (ok) {
              candidates.push(dir === '.' ? r : `${dir}/${r}`);
              if (ctx.byPath.get(child)!.type === 'dir') continue;
            }
            if (ctx.byPath.get(child)!.type === 'dir') walk(child, r);
          }
        };
        walk(dir, '');
      }
      if (candidates.length === 0) {
        throw new SourceNotFoundError(source, `no file or directory matches "${clean}"`, options.location);
      }
    }
    for (const matched of candidates) {
      const resolved = resolver.resolve(matched, followSymlinks);
      if (resolved === undefined || !ctx.byPath.has(resolved)) {
        throw new SourceNotFoundError(source, `"${matched}" does not exist`, options.location);
      }
      const m: Matchers = {};
      if (include) m.include = include;
      if (exclude) m.exclude = exclude;
      const entries = enumerate(ctx, resolved, lastName(matched), m);
      matches.push({ matched, resolved, entries });
    }
    if (required !== undefined && resolver.resolve(required, false) === undefined) {
      throw new SourceNotFoundError(source, `"${required}" does not exist`, options.location);
    }
    sources.push({ source, matches });
  }
  return { context: ctx, sources };
}
