/**
 * An in-memory view of a walked build context: what BuildKit's local source holds after the
 * `.dockerignore` filter. COPY/ADD source selection runs on this view, so an ignored file can never
 * be selected and the selection needs no further file-system access.
 */
import { lstat } from 'node:fs/promises';
import * as path from 'node:path';
import { compareGoStrings } from './gopath.js';
import { type ContextEntry, toEntry } from './entry.js';
import { loadIgnorePatterns } from './ignorefile.js';
import { PatternMatcher } from './patternmatcher.js';
import { walkContext } from './walk.js';

export interface BuildContext {
  /** Absolute path of the context root. */
  readonly dir: string;
  /** The context root itself, with path `.`. */
  readonly root: ContextEntry;
  /** Entries as sent (walk order), without the root. */
  readonly entries: readonly ContextEntry[];
  /** Lookup by context-relative path (`.` for the root). */
  readonly byPath: ReadonlyMap<string, ContextEntry>;
  /** Sorted child names of each directory path (`.` for the root). */
  readonly children: ReadonlyMap<string, readonly string[]>;
}

/** The parent path of a context-relative path (`.` for a top-level entry). */
export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : p.slice(0, i);
}

/** Builds the lookup structures of a {@link BuildContext} from walked entries. */
export function contextFromEntries(dir: string, root: ContextEntry, entries: readonly ContextEntry[]): BuildContext {
  const byPath = new Map<string, ContextEntry>([['.', root]]);
  const children = new Map<string, string[]>([['.', []]]);
  for (const e of entries) {
    byPath.set(e.path, e);
    if (e.type === 'dir' && !children.has(e.path)) children.set(e.path, []);
    const parent = parentOf(e.path);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(e.path.slice(e.path.lastIndexOf('/') + 1));
  }
  for (const list of children.values()) list.sort(compareGoStrings);
  return { dir, root, entries, byPath, children };
}

export interface LoadContextOptions {
  /** Exclude patterns; when omitted they are loaded with {@link loadIgnorePatterns}. */
  patterns?: readonly string[];
  /** The Dockerfile, to find `<Dockerfile>.dockerignore` (absolute or relative to the context). */
  dockerfilePath?: string;
}

/**
 * Walks `dir` with its `.dockerignore` applied and returns the filtered context.
 *
 * @example const ctx = await loadContext('/src/app', { dockerfilePath: 'Dockerfile' })
 */
export async function loadContext(dir: string, options: LoadContextOptions = {}): Promise<BuildContext> {
  const abs = path.resolve(dir);
  let patterns = options.patterns;
  let file = '.dockerignore';
  if (!patterns) {
    const loaded = await loadIgnorePatterns(abs, options.dockerfilePath);
    patterns = loaded.patterns;
    if (loaded.file) file = path.relative(abs, loaded.file) || loaded.file;
  }
  const matcher = new PatternMatcher(patterns, file);
  const [rootStat, entries] = await Promise.all([lstat(abs, { bigint: true }), walkContext(abs, matcher)]);
  return contextFromEntries(abs, toEntry('.', rootStat), entries);
}
