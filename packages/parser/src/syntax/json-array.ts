/**
 * The exec (JSON array) form, decided as BuildKit's `parseJSON` does with Go's `encoding/json`.
 */
import { goTrimLeftSpace, toWellFormed } from './gotext.js';

export type JsonArrayResult =
  /** Not a JSON array (or invalid JSON): the caller falls back to shell form. */
  | { kind: 'not-json' }
  /** Valid JSON array with an element that is not a string: an error in BuildKit. */
  | { kind: 'not-strings' }
  | { kind: 'strings'; values: string[] };

/** Go's decoder refuses nesting deeper than this. */
const MAX_DEPTH = 10000;

function tooDeep(s: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Go fails the whole decode on a number that overflows float64 (JavaScript reads Infinity), so
 * such a number anywhere turns the array into "not JSON". Walks without recursion: the array may
 * nest up to 10000 deep.
 */
function hasOverflow(root: unknown[]): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return true;
    } else if (v !== null && typeof v === 'object') {
      for (const x of Array.isArray(v) ? (v as unknown[]) : Object.values(v)) stack.push(x);
    }
  }
  return false;
}

/**
 * Parses `rest` as a JSON array of strings the way Go's `json.Unmarshal` into `[]any` would:
 * a number that overflows float64 is a decode error (so shell form), not Infinity; lone
 * surrogate escapes decode to U+FFFD.
 */
export function parseJsonArray(rest: string): JsonArrayResult {
  const text = goTrimLeftSpace(rest);
  if (!text.startsWith('[')) return { kind: 'not-json' };
  // Cheap necessary condition before paying for an exception on every shell-form `[ ... ]` test.
  if (!/\]\s*$/.test(text)) return { kind: 'not-json' };
  if (text.length > MAX_DEPTH && tooDeep(text)) return { kind: 'not-json' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'not-json' };
  }
  if (!Array.isArray(parsed)) return { kind: 'not-json' };
  if (parsed.some((v) => typeof v !== 'string') && hasOverflow(parsed)) return { kind: 'not-json' };
  const values: string[] = [];
  for (const v of parsed as unknown[]) {
    if (typeof v !== 'string') return { kind: 'not-strings' };
    values.push(toWellFormed(v));
  }
  return { kind: 'strings', values };
}
