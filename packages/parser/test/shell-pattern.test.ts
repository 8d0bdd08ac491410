/**
 * The glob matcher behind `${v#p}`, `${v%p}` and `${v/p/r}`: BuildKit's convertShellPatternToRegex,
 * reversePattern and reverseString tables (lex_test.go), and RE2's leftmost-first semantics.
 */
import { describe, expect, it } from 'vitest';
import {
  PatternError,
  compileShellPattern,
  findMatch,
  replacePattern,
  reversePattern,
  reverseString,
  trimPrefix,
  trimSuffix,
} from '../src/shell/pattern.js';

describe('compileShellPattern (BuildKit TestConvertShellPatternToRegex)', () => {
  it.each([
    ['*', 'anything', 8],
    ['?', 'xy', 1],
    ['\\*', '*x', 1],
    ['(()[]{\\}^$.\\*\\?|\\\\', '(()[]{}^$.*?|\\tail', 14],
  ])('%s is a literal-safe pattern', (pattern, text, end) => {
    expect(findMatch(compileShellPattern(pattern, true), text, 0, true)).toEqual([0, end]);
  });

  it.each([
    ['\\', "invalid escape '\\\uFFFD'"],
    ['\\x', "invalid escape '\\x'"],
    ['\\\\\\', "invalid escape '\\\uFFFD'"],
  ])('%s is invalid', (pattern, message) => {
    expect(() => compileShellPattern(pattern, true)).toThrow(PatternError);
    expect(() => compileShellPattern(pattern, true)).toThrow(message);
  });

  it('drops the escape before } and / (they are escaped only to stay inside ${…})', () => {
    expect(findMatch(compileShellPattern('a\\}\\/', true), 'a}/', 0, true)).toEqual([0, 3]);
  });

  it('skips a leading byte-order mark as Go text/scanner does', () => {
    expect(findMatch(compileShellPattern('\uFEFFab', true), 'abc', 0, true)).toEqual([0, 2]);
  });
});

describe('reverseString / reversePattern (BuildKit TestReverseString, TestReversePattern)', () => {
  it('reverses by code point', () => {
    expect(reverseString('54321')).toBe('12345');
    expect(reverseString('🖖🚀👽')).toBe('👽🚀🖖');
  });

  it.each([
    ['a\\*c', 'c\\*a'],
    ['\\\\\\ab', 'b\\a\\\\'],
    ['ab\\', '\\ba'],
    ['👽\\🚀🖖', '🖖\\🚀👽'],
    ['\\\\b', 'b\\\\'],
  ])('%s → %s', (pattern, expected) => {
    expect(reversePattern(pattern)).toBe(expected);
  });
});

describe('findMatch: RE2 leftmost-first', () => {
  it('lazy stars give the shortest prefix, greedy stars the longest', () => {
    expect(findMatch(compileShellPattern('*x*y', false), 'axbyxy', 0, true)).toEqual([0, 4]);
    expect(findMatch(compileShellPattern('*x*y', true), 'axbyxy', 0, true)).toEqual([0, 6]);
  });

  it('wildcards do not match a newline, literals do', () => {
    expect(findMatch(compileShellPattern('*', true), 'ab\ncd', 0, true)).toEqual([0, 2]);
    expect(findMatch(compileShellPattern('a?c', true), 'a\nc', 0, true)).toBeUndefined();
    expect(findMatch(compileShellPattern('*\n*', true), 'ab\ncd', 0, true)).toEqual([0, 5]);
  });

  it('an unanchored search takes the leftmost start, then the preferred end', () => {
    expect(findMatch(compileShellPattern('b*', true), 'abcb\nb', 0, false)).toEqual([1, 4]);
    expect(findMatch(compileShellPattern('b?', true), 'abcb', 2, false)).toBeUndefined();
    expect(findMatch(compileShellPattern('', true), 'abc', 3, false)).toEqual([3, 3]);
  });

  it('steps over astral characters as one character', () => {
    expect(findMatch(compileShellPattern('?x', true), '😀x', 0, true)).toEqual([0, 3]);
  });
});

describe('trim and replace', () => {
  it('trims prefixes and suffixes', () => {
    expect(trimPrefix('*/', '/usr/local/bin', false)).toBe('usr/local/bin');
    expect(trimPrefix('*/', '/usr/local/bin', true)).toBe('bin');
    expect(trimSuffix('/*', '/usr/local/bin', false)).toBe('/usr/local');
    expect(trimSuffix('/*', '/usr/local/bin', true)).toBe('');
  });

  it('names the reversed pattern in a suffix error, as BuildKit does', () => {
    expect(() => trimSuffix('a\\', 'x', false)).toThrow("invalid pattern (\\a) in substitution: invalid escape '\\a'");
  });

  it('replaces like Go ReplaceAllString: empty matches, $0 and $$ in the template', () => {
    expect(replacePattern('', 'ab', '-', true)).toBe('-a-b-');
    expect(replacePattern('x*', 'abxxc', '-', true)).toBe('ab-');
    expect(replacePattern('x?', 'axbxc\nxd', '-', true)).toBe('a--\n-');
    expect(replacePattern('b', 'abcb', '<$0|${0}|$$|$1|$x|${y}|${|$>', true)).toBe('a<b|b|$||||${|$>c<b|b|$||||${|$>');
    expect(replacePattern('b', 'abcb', '<$0>', false)).toBe('a<$0>cb');
  });
});
