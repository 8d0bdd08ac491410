/**
 * Explaining a cache miss: a typed diff of two key pre-images (the one computed now, and the last
 * one recorded for the same step identity), and a printer for it.
 *
 * File sets are compared by a sorted merge (pre-images keep entries sorted by path), so explaining
 * a 20,000-file source costs one linear pass.
 */
import { comparePaths, type FileEntry, type KeyPart, type KeyPreimage } from './keys.js';

/**
 * Why a key differs from the previous one for the same step. Printable with {@link formatMissReason}.
 *
 * @example
 * ```ts
 * const r: MissReason = { kind: 'file-changed', source: 'source #1', path: 'src/a.ts', change: 'content' }
 * ```
 */
export type MissReason =
  /** Nothing was recorded for this step before (first build, or history pruned). */
  | { kind: 'no-history' }
  /** Same inputs as the last record, yet no result: it was pruned, or that build never stored one. */
  | { kind: 'not-cached' }
  | { kind: 'key-version-changed'; before: number; after: number }
  | { kind: 'parent-changed'; before?: string | null; after?: string | null }
  | { kind: 'base-changed'; before?: string; after?: string }
  | { kind: 'platform-changed'; before?: string; after?: string }
  | { kind: 'op-changed'; before?: string; after?: string }
  /** `before`/`after` undefined: the input was absent on that side. */
  | { kind: 'input-changed'; name: string; before?: string | null; after?: string | null }
  /** `before` undefined: added; `after` undefined: removed. */
  | { kind: 'arg-changed'; name: string; before?: string; after?: string }
  | { kind: 'env-changed'; name: string; before?: string; after?: string }
  | { kind: 'secret-changed'; id: string; change: 'added' | 'removed' }
  | { kind: 'extra-changed'; name: string; before?: string | null; after?: string | null }
  /** A whole file set appeared or disappeared. */
  | { kind: 'source-changed'; source: string; change: 'added' | 'removed'; files: number }
  | {
      kind: 'file-changed';
      source: string;
      path: string;
      change: 'added' | 'removed' | 'content' | 'mode';
      before?: { hash: string; mode?: number };
      after?: { hash: string; mode?: number };
    };

/**
 * The kinds of {@link MissReason}.
 *
 * @example
 * ```ts
 * const onlyFiles = reasons.filter((r) => r.kind === ('file-changed' satisfies MissReasonKind))
 * ```
 */
export type MissReasonKind = MissReason['kind'];

/**
 * Lists what differs between the pre-image of the key that missed (`current`) and the last one
 * recorded for the same step (`previous`). An empty difference yields `not-cached`; no previous
 * record yields `no-history`. Order: step-level reasons first, then files by source and path.
 *
 * @example
 * ```ts
 * const nearest = await index.findNearest(stepId)
 * for (const r of explainMiss(preimage, nearest?.preimage)) log(formatMissReason(r))
 * ```
 */
export function explainMiss(current: KeyPreimage, previous: KeyPreimage | undefined): MissReason[] {
  if (!previous) return [{ kind: 'no-history' }];
  if (previous.version !== current.version) return [{ kind: 'key-version-changed', before: previous.version, after: current.version }];
  const reasons: MissReason[] = [];
  const before = groupParts(previous.parts);
  const after = groupParts(current.parts);

  const single = <K extends 'parent' | 'base' | 'platform' | 'op'>(type: K): void => {
    const b = before.singles.get(type);
    const a = after.singles.get(type);
    if (b === a) return;
    const r: Record<string, unknown> = { kind: `${type}-changed` };
    if (b !== undefined) r['before'] = b;
    if (a !== undefined) r['after'] = a;
    reasons.push(r as MissReason);
  };
  single('parent');
  single('base');
  single('platform');
  single('op');

  for (const type of ['input', 'arg', 'env', 'extra'] as const) {
    const b = before.named.get(type) ?? new Map<string, string | null>();
    const a = after.named.get(type) ?? new Map<string, string | null>();
    for (const name of unionSorted(b.keys(), a.keys())) {
      const has0 = b.has(name);
      const has1 = a.has(name);
      const v0 = b.get(name);
      const v1 = a.get(name);
      if (has0 && has1 && v0 === v1) continue;
      const r: Record<string, unknown> = { kind: `${type}-changed`, name };
      if (has0) r['before'] = v0;
      if (has1) r['after'] = v1;
      reasons.push(r as MissReason);
    }
  }

  for (const id of unionSorted(before.secrets.keys(), after.secrets.keys())) {
    if (before.secrets.has(id) && after.secrets.has(id)) continue;
    reasons.push({ kind: 'secret-changed', id, change: after.secrets.has(id) ? 'added' : 'removed' });
  }

  for (const source of unionSorted(before.files.keys(), after.files.keys())) {
    const b = before.files.get(source);
    const a = after.files.get(source);
    if (!b) reasons.push({ kind: 'source-changed', source, change: 'added', files: a!.length });
    else if (!a) reasons.push({ kind: 'source-changed', source, change: 'removed', files: b.length });
    else diffFiles(source, b, a, reasons);
  }

  return reasons.length === 0 ? [{ kind: 'not-cached' }] : reasons;
}

/**
 * Sorted-merge diff of two file lists (each sorted by path; unsorted input is sorted first).
 * Appends `file-changed` reasons to `out` and returns it.
 *
 * @example
 * ```ts
 * diffFiles('source #1', old.entries, now.entries) // [{ kind: 'file-changed', path: 'a', change: 'content', … }]
 * ```
 */
export function diffFiles(source: string, before: readonly FileEntry[], after: readonly FileEntry[], out: MissReason[] = []): MissReason[] {
  const b = ensureSorted(before);
  const a = ensureSorted(after);
  let i = 0;
  let j = 0;
  const side = (e: FileEntry) => (e.mode === undefined ? { hash: e.hash } : { hash: e.hash, mode: e.mode });
  while (i < b.length || j < a.length) {
    const eb = b[i];
    const ea = a[j];
    const c = eb === undefined ? 1 : ea === undefined ? -1 : comparePaths(eb.path, ea.path);
    if (c < 0) {
      out.push({ kind: 'file-changed', source, path: eb!.path, change: 'removed', before: side(eb!) });
      i++;
    } else if (c > 0) {
      out.push({ kind: 'file-changed', source, path: ea!.path, change: 'added', after: side(ea!) });
      j++;
    } else {
      if (eb!.hash !== ea!.hash || eb!.mode !== ea!.mode) {
        const change = eb!.hash === ea!.hash ? 'mode' : 'content';
        out.push({ kind: 'file-changed', source, path: ea!.path, change, before: side(eb!), after: side(ea!) });
      }
      i++;
      j++;
    }
  }
  return out;
}

/**
 * One line of text for a reason, e.g. `ARG VERSION changed ("1" → "2")`, `src/a.ts changed`,
 * `src/b.ts added`.
 *
 * @example
 * ```ts
 * formatMissReason({ kind: 'arg-changed', name: 'VERSION', before: '1', after: '2' }) // 'ARG VERSION changed ("1" → "2")'
 * ```
 */
export function formatMissReason(r: MissReason): string {
  const q = (v: string | null | undefined) => (v === undefined ? 'none' : v === null ? 'null' : JSON.stringify(v));
  const pair = (label: string, before: string | null | undefined, after: string | null | undefined) => {
    if (before === undefined) return `${label} added (${q(after)})`;
    if (after === undefined) return `${label} removed (was ${q(before)})`;
    return `${label} changed (${q(before)} → ${q(after)})`;
  };
  switch (r.kind) {
    case 'no-history':
      return 'no earlier build of this step is recorded';
    case 'not-cached':
      return 'inputs are unchanged since the last recorded build, but its result is no longer cached (pruned?)';
    case 'key-version-changed':
      return `cache key format changed (v${r.before} → v${r.after})`;
    case 'parent-changed':
      return 'previous step changed';
    case 'base-changed':
      return `base image changed (${r.before ?? 'none'} → ${r.after ?? 'none'})`;
    case 'platform-changed':
      return `platform changed (${q(r.before)} → ${q(r.after)})`;
    case 'op-changed':
      return `instruction changed (${q(r.before)} → ${q(r.after)})`;
    case 'input-changed':
      return pair(`input ${r.name}`, r.before, r.after).replace(/ \(.*\)$/, '');
    case 'arg-changed':
      return pair(`ARG ${r.name}`, r.before, r.after);
    case 'env-changed':
      return pair(`ENV ${r.name}`, r.before, r.after);
    case 'secret-changed':
      return `secret ${JSON.stringify(r.id)} ${r.change}`;
    case 'extra-changed':
      return pair(r.name, r.before, r.after);
    case 'source-changed':
      return `${r.source} ${r.change} (${r.files} file${r.files === 1 ? '' : 's'})`;
    case 'file-changed':
      if (r.change === 'content') return `${r.path} changed`;
      if (r.change === 'mode') return `${r.path} mode changed (${octal(r.before?.mode)} → ${octal(r.after?.mode)})`;
      return `${r.path} ${r.change}`;
  }
}

/**
 * Lines for a list of reasons, with at most `maxFiles` file lines followed by a count of the rest,
 * so a 20,000-file change prints as a handful of lines.
 *
 * @example
 * ```ts
 * formatMissReasons(explainMiss(now, before), { maxFiles: 5 }).forEach((l) => console.log(`  ${l}`))
 * ```
 */
export function formatMissReasons(reasons: readonly MissReason[], options: { maxFiles?: number } = {}): string[] {
  const maxFiles = options.maxFiles ?? 10;
  const lines: string[] = [];
  let files = 0;
  for (const r of reasons) {
    if (r.kind === 'file-changed' && files++ >= maxFiles) continue;
    lines.push(formatMissReason(r));
  }
  if (files > maxFiles) lines.push(`… and ${files - maxFiles} more file${files - maxFiles === 1 ? '' : 's'} changed`);
  return lines;
}

function octal(mode: number | undefined): string {
  return mode === undefined ? 'none' : mode.toString(8).padStart(4, '0');
}

interface Grouped {
  singles: Map<string, string | null>;
  named: Map<string, Map<string, string | null>>;
  secrets: Set<string>;
  files: Map<string, readonly FileEntry[]>;
}

function groupParts(parts: readonly KeyPart[]): Grouped {
  const g: Grouped = { singles: new Map(), named: new Map(), secrets: new Set(), files: new Map() };
  for (const p of parts) {
    switch (p.type) {
      case 'parent':
      case 'base':
      case 'platform':
      case 'op':
        g.singles.set(p.type, p.value);
        break;
      case 'input':
      case 'arg':
      case 'env':
      case 'extra': {
        let m = g.named.get(p.type);
        if (!m) g.named.set(p.type, (m = new Map()));
        m.set(p.name, p.value);
        break;
      }
      case 'secret-id':
        g.secrets.add(p.value);
        break;
      case 'files':
        g.files.set(p.name, p.entries);
    }
  }
  return g;
}

function unionSorted(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort(comparePaths);
}

function ensureSorted(entries: readonly FileEntry[]): readonly FileEntry[] {
  for (let i = 1; i < entries.length; i++) {
    if (!(entries[i - 1]!.path < entries[i]!.path)) return [...entries].sort((x, y) => comparePaths(x.path, y.path));
  }
  return entries;
}
