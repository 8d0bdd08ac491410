/**
 * Go's `time.ParseDuration`, which HEALTHCHECK flags use: a signed sequence of decimal numbers,
 * each with a unit (`ns us µs μs ms s m h`), e.g. `1h30m`, `1.5s`, `-2m`. Returns nanoseconds.
 */
const UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

export class DurationError extends Error {}

/** @example parseGoDuration('1m30s') // 90_000_000_000 */
export function parseGoDuration(text: string): number {
  const bad = () => new DurationError(`time: invalid duration "${text}"`);
  let s = text;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  let total = 0;
  while (s !== '') {
    const num = /^([0-9]*)(\.([0-9]*))?/.exec(s)!;
    const intPart = num[1] ?? '';
    const fracPart = num[3] ?? '';
    if (intPart === '' && fracPart === '') throw bad();
    if (num[2] !== undefined && intPart === '' && fracPart === '') throw bad();
    s = s.slice(num[0].length);
    const unitMatch = /^[^0-9.]*/.exec(s)!;
    const unit = unitMatch[0];
    if (unit === '') throw new DurationError(`time: missing unit in duration "${text}"`);
    const scale = UNITS[unit];
    if (scale === undefined) throw new DurationError(`time: unknown unit "${unit}" in duration "${text}"`);
    s = s.slice(unit.length);
    total += Number(`${intPart || '0'}.${fracPart || '0'}`) * scale;
    if (total > 9223372036854775807) throw bad();
  }
  return Math.round(neg ? -total : total);
}
