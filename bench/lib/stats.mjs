// Small numeric helpers of the comparison report.

/** Median of the finite numbers in `xs` (undefined when there are none). */
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** a / b, undefined unless both are positive numbers. */
export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? a / b : undefined;
}

/** Seconds with 2 decimals, '–' for missing. */
export function secs(ms) {
  return typeof ms === 'number' ? (ms / 1000).toFixed(2) : '–';
}

/** A ratio as `0.42×`, '–' for missing. */
export function times(r) {
  return typeof r === 'number' ? `${r.toFixed(2)}×` : '–';
}

/** KiB as MiB with no decimals, '–' for missing. */
export function mib(kb) {
  return typeof kb === 'number' ? `${Math.round(kb / 1024)}` : '–';
}
