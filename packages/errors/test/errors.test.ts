import { describe, expect, it } from 'vitest';
import { BuildError, formatCodeFrame } from '@build-image/errors';

describe('BuildError', () => {
  it('is recognised by brand and serializes its code and location', () => {
    const loc = { file: 'Dockerfile', line: 2, column: 1, endLine: 2, endColumn: 4 };
    const e = new BuildError('E_TEST', 'bad thing', { location: loc, data: { x: 1 } });
    expect(e instanceof BuildError).toBe(true);
    expect(BuildError.is({})).toBe(false);
    expect(e.where).toBe('Dockerfile:2:1');
    expect(JSON.parse(JSON.stringify(e))).toEqual({ name: 'BuildError', code: 'E_TEST', message: 'bad thing', data: { x: 1 }, location: loc });
  });
  it('accepts an error branded by another copy of the package', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('build-image.BuildError')]: true, code: 'E' });
    expect(foreign instanceof BuildError).toBe(true);
  });
  it('prints a code frame with a caret', () => {
    const frame = formatCodeFrame('FROM a\nRUNN x\nCMD y', { file: 'Dockerfile', line: 2, column: 1, endLine: 2, endColumn: 4 });
    expect(frame).toContain('> 2 | RUNN x');
    expect(frame).toMatch(/\|\s\^/);
  });
});
