/**
 * "did you mean …?" suggestions, as BuildKit's util/suggest: the closest option within an edit
 * distance below 3, or nothing when the value is an exact match.
 */
function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest option to `value`, or undefined. Options are tried in order; ties keep the first. */
export function suggest(value: string, options: readonly string[], caseSensitive = true): string | undefined {
  const v = caseSensitive ? value : value.toLowerCase();
  let best: string | undefined;
  let min = 3;
  for (const option of options) {
    const o = caseSensitive ? option : option.toLowerCase();
    if (o === v) return undefined;
    const d = levenshtein(v, o);
    if (d < min) {
      min = d;
      best = caseSensitive ? o : value === value.toUpperCase() ? o.toUpperCase() : value === value.toLowerCase() ? o : option;
    }
  }
  return best;
}

/** `message (did you mean x?)` when there is a close option. */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive = true): string {
  const s = suggest(value, options, caseSensitive);
  return s === undefined ? message : `${message} (did you mean ${s}?)`;
}
