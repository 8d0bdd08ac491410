/**
 * Go's `fmt` renderings that BuildKit writes into image history (`created_by`), so our history
 * reads byte for byte like an image built by BuildKit: `%q` and `%v` of string slices, and
 * `time.Duration.String()` inside `HEALTHCHECK %+v`.
 */
export { goQuoteList } from '@build-image/parser';

/**
 * `fmt.Sprintf("%v", []string{...})` → `[a b c]`.
 *
 * @example
 * ```ts
 * goList(['a', 'b']) // '[a b]'
 * ```
 */
export function goList(values: readonly string[]): string {
  return `[${values.join(' ')}]`;
}

/**
 * A time as Go's encoding/json writes a `time.Time` (RFC 3339 with the fraction trimmed of
 * trailing zeros, and none when it is zero): `2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.5Z`.
 *
 * @example
 * ```ts
 * goTime(Date.UTC(2024, 0, 1))       // '2024-01-01T00:00:00Z'
 * goTime(Date.UTC(2024, 0, 1) + 500) // '2024-01-01T00:00:00.5Z'
 * ```
 */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/**
 * Go's `time.Duration(ns).String()`: `0s`, `1.5s`, `1m30s`, `2h0m0s`, `500ms`, `1µs`.
 *
 * @example
 * ```ts
 * goDuration(90e9) // '1m30s'
 * ```
 */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = BigInt(Math.abs(Math.trunc(ns)));
  let out: string;
  if (u < 1_000_000_000n) {
    // Sub-second: the largest unit that keeps an integer part.
    const [unit, div] = u < 1_000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1_000n] : ['ms', 1_000_000n];
    out = fraction(u, div) + unit;
  } else {
    const h = u / 3_600_000_000_000n;
    u -= h * 3_600_000_000_000n;
    const m = u / 60_000_000_000n;
    u -= m * 60_000_000_000n;
    const s = fraction(u, 1_000_000_000n) + 's';
    out = h > 0n ? `${h}h${m}m${s}` : m > 0n ? `${m}m${s}` : s;
  }
  return neg ? '-' + out : out;
}

function fraction(value: bigint, div: bigint): string {
  const int = value / div;
  let rest = value % div;
  if (rest === 0n) return String(int);
  let digits = '';
  let scale = div;
  while (rest > 0n && scale > 1n) {
    scale /= 10n;
    digits += String(rest / scale);
    rest %= scale;
  }
  return `${int}.${digits.replace(/0+$/, '')}`;
}
