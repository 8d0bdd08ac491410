/**
 * Unit tests of the syntax layer: positions, error locations, heredocs and the BuildKit quirks
 * that the conformance files do not reach. Expected values were checked against BuildKit's parser.
 */
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpNode, dumpTree, parseDockerfile } from '../src/index.js';

function error(text: string): DockerfileSyntaxError {
  try {
    parseDockerfile(text);
  } catch (e) {
    if (e instanceof DockerfileSyntaxError) return e;
    throw e;
  }
  throw new Error('expected a DockerfileSyntaxError');
}

const dump = (text: string): string => dumpTree(parseDockerfile(text));

describe('positions', () => {
  it('gives 1-based line and column ranges covering continuations', () => {
    const tree = parseDockerfile('FROM alpine\n\n   RUN echo a \\\n  b\n');
    expect(tree.children[1]!.range).toEqual({ startLine: 3, startColumn: 4, endLine: 4, endColumn: 3 });
    expect(tree.children[0]!.range).toEqual({ startLine: 1, startColumn: 1, endLine: 1, endColumn: 11 });
    expect(tree.range).toEqual({ startLine: 1, startColumn: 1, endLine: 4, endColumn: 3 });
  });

  it('covers heredoc bodies and the terminator line', () => {
    const tree = parseDockerfile('FROM a\nRUN <<EOF\nx\nEOF\nUSER me\n');
    expect(tree.children[1]!.range).toEqual({ startLine: 2, startColumn: 1, endLine: 4, endColumn: 3 });
    expect(tree.children[2]!.range.startLine).toBe(5);
  });

  it('points an unterminated heredoc at its <<WORD on the instruction line', () => {
    const e = error('FROM a\n  RUN --mount=type=cache,target=/x <<EOF\necho hi\n');
    expect(e.code).toBe('E_HEREDOC_UNTERMINATED');
    // `  RUN --mount=type=cache,target=/x ` is 35 characters: the word starts in column 36.
    expect(e.location).toEqual({ file: 'Dockerfile', line: 2, column: 36, endLine: 3, endColumn: 7 });
    expect(e.message).toMatch(/^Dockerfile:2:36: unterminated heredoc/);
  });

  it('points a non-string JSON element at the instruction', () => {
    const e = error('FROM a\n\n  CMD ["echo", \\\n   1]\n');
    expect(e.code).toBe('E_JSON_ARRAY');
    expect(e.location).toEqual({ file: 'Dockerfile', line: 3, column: 3, endLine: 4, endColumn: 5 });
    expect(e.data.reason).toBe('when using JSON array syntax, arrays must be comprised of strings only');
  });

  it('uses the file option in locations', () => {
    const e = (() => {
      try {
        parseDockerfile('# escape=?\nFROM a\n', { file: 'ci/Dockerfile' });
      } catch (err) {
        return err as DockerfileSyntaxError;
      }
      throw new Error('no error');
    })();
    expect(e.location).toEqual({ file: 'ci/Dockerfile', line: 1, column: 1, endLine: 1, endColumn: 10 });
    expect(e.message).toMatch(/^ci\/Dockerfile:1:1: invalid escape token/);
  });

  it('locates ENV shape errors and reports the empty file', () => {
    expect(error('FROM a\nENV x\n').location).toMatchObject({ line: 2, column: 1 });
    expect(error('FROM a\nENV a=b c\n').data.reason).toBe('Syntax error - can\'t find = in "c". Must be of the form: name=value');
    const empty = error('# only a comment\n\n');
    expect(empty.code).toBe('E_EMPTY_DOCKERFILE');
    expect(empty.location).toMatchObject({ line: 2, column: 1 });
    expect(error('').code).toBe('E_EMPTY_DOCKERFILE');
  });
});

describe('directives, comments, continuations', () => {
  it('reads directives case-insensitively at the top only', () => {
    const tree = parseDockerfile('# SYNTAX = docker/dockerfile:1\n#Escape=`\n# check=skip=all\n# a comment ends the block\n# escape=\\\nFROM a\n');
    expect(tree.directives).toEqual([
      { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
      { name: 'escape', value: '`', line: 2 },
      { name: 'check', value: 'skip=all', line: 3 },
    ]);
    expect(tree.escapeToken).toBe('`');
    expect(error('# syntax=a\n# syntax=b\nFROM a\n').data.reason).toBe('only one syntax parser directive can be used');
  });

  it('keeps comments above an instruction (BuildKit PrevComment), not directives', () => {
    const tree = parseDockerfile('# syntax=x\n# first\n\n# second\nFROM a\n#\n# third\nRUN x\n');
    expect(tree.children[0]!.comments).toEqual(['first', 'second']);
    expect(tree.children[1]!.comments).toEqual(['third']);
  });

  it('joins continuations without a separator, skipping comments and blank lines with a warning', () => {
    const tree = parseDockerfile('FROM a\nRUN a \\\n# note\n\n\tb\\\n  c\n');
    expect(tree.children[1]!.args).toEqual(['a \tb  c']);
    expect(tree.children[1]!.range).toMatchObject({ startLine: 2, endLine: 6 });
    expect(tree.warnings).toEqual([{ message: 'Empty continuation line found in: RUN a \tb  c', line: 6 }]);
  });

  it('handles BOM, CRLF and a continuation left open at end of file', () => {
    expect(dump('\uFEFFFROM a\r\nRUN x \\\r\n')).toBe('(from "a")\n(run "x")\n');
    expect(parseDockerfile('FROM a\r\nRUN x \\\r\n').children[1]!.original).toBe('RUN x ');
    expect(parseDockerfile('\uFEFFFROM a\n').children[0]!.range.startColumn).toBe(1);
  });

  it('does not treat an escaped escape as a continuation', () => {
    expect(dump('FROM a\nENV C trailing\\\\\nUSER u\n')).toBe('(from "a")\n(env "C" "trailing\\\\\\\\" "")\n(user "u")\n');
  });
});

describe('argument splitting and flags', () => {
  it('keeps unknown instructions with one empty argument', () => {
    expect(dump('FOOBAR x y\nFrOm a AS b\n')).toBe('(foobar "")\n(from "a" "AS" "b")\n');
    expect(parseDockerfile('FrOm a\n').children[0]).toMatchObject({ keyword: 'from', keywordText: 'FrOm' });
  });

  it('extracts flags on every instruction, removing quotes, stopping at --', () => {
    expect(dump('CMD --x="a b" -- --y z\n')).toBe('(cmd ["--x=a b"] "--y z")\n');
    expect(parseDockerfile('RUN --mount="type=secret,id=a" echo\n').children[0]!.flags).toEqual(['--mount=type=secret,id=a']);
  });

  it('records exec form and falls back to shell form on invalid JSON', () => {
    const t = parseDockerfile('CMD ["a", "b"]\nCMD [\'a\']\nRUN ["a", 1e999]\nCMD []\n');
    expect(t.children.map((c) => [c.json, c.args])).toEqual([
      [true, ['a', 'b']],
      [false, ["['a']"]],
      [false, ['["a", 1e999]']],
      [true, []],
    ]);
  });

  it('splits ENV/LABEL into key, value, separator triples', () => {
    expect(parseDockerfile('ENV a b c\n').children[0]!.args).toEqual(['a', 'b c', '']);
    expect(parseDockerfile('LABEL "k x"="v w" y=\n').children[0]!.args).toEqual(['"k x"', '"v w"', '=', 'y', '', '=']);
    expect(dump('ENV\n')).toBe('(env)\n');
  });

  it('nests ONBUILD, even deeply', () => {
    const t = parseDockerfile('ONBUILD --f RUN --mount=x echo hi\n');
    expect(dumpNode(t.children[0]!)).toBe('(onbuild ["--f"] (run ["--mount=x"] "echo hi"))');
    expect(t.children[0]!.args).toEqual([]);
    const deep = parseDockerfile('ONBUILD '.repeat(5000) + 'USER x\n');
    expect(dumpNode(deep.children[0]!)).toBe('(onbuild '.repeat(5000) + '(user "x")' + ')'.repeat(5000));
  });

  it('quotes like Go strconv.Quote', () => {
    expect(dump('USER a\u00a0\u0001\u007f\u2665\u{1F600}\u{E000}\t"\\b\n')).toBe('(user "a\\u00a0\\x01\\x7f\u2665\u{1F600}\\ue000\\t\\"\\\\b")\n');
    expect(dump('CMD ["\\u0000\\/"]\n')).toBe('(cmd "\\x00/")\n');
  });

  it('reads flags byte by byte as BuildKit does (Latin-1 reading of UTF-8)', () => {
    expect(parseDockerfile('COPY --chown=é a b\n').children[0]!.flags).toEqual(['--chown=\u00c3\u00a9']);
    // 0xA0 inside "à" (C3 A0) is a space byte to BuildKit: the first word ends after 0xC3.
    expect(dump('HEALTHCHECK à x\n')).toBe('(healthcheck "\\xc3" "x")\n');
  });

  it('lowercases keywords with Go simple case mapping', () => {
    expect(parseDockerfile('İX a\n').children[0]!.keyword).toBe('ix');
  });
});

describe('heredocs', () => {
  const heredocs = (text: string) => parseDockerfile(text).children.map((c) => c.heredocs.map((h) => ({ ...h })));

  it('reads bodies, quoted terminators, chomp and file descriptors', () => {
    const text = [
      'FROM a',
      'RUN <<EOF',
      'x',
      'EOF',
      "RUN <<-'NO' 3<<\"Q\"",
      '\tbody $X',
      '\tNO',
      '# not a comment',
      'Q',
      'COPY <<eo"f" <<  B /d',
      'one',
      'eof',
      'B',
      'RUN <<eo\\\'f',
      "eo'f",
      'RUN ["<<EOF"]',
      'USER <<EOF',
      'RUN <<- X',
      'RUN "<<X" echo <<<Y',
      'RUN <<$EOF',
      '$EOF',
      'RUN <<EOF "unterminated',
      '',
    ].join('\n');
    expect(heredocs(text)).toEqual([
      [],
      [{ name: 'EOF', fileDescriptor: 0, expand: true, chomp: false, content: 'x\n' }],
      [
        { name: 'NO', fileDescriptor: 0, expand: false, chomp: true, content: '\tbody $X\n' },
        { name: 'Q', fileDescriptor: 3, expand: false, chomp: false, content: '# not a comment\n' },
      ],
      [
        { name: 'eof', fileDescriptor: 0, expand: false, chomp: false, content: 'one\n' },
        { name: 'B', fileDescriptor: 0, expand: true, chomp: false, content: '' },
      ],
      [{ name: "eo'f", fileDescriptor: 0, expand: true, chomp: false, content: '' }],
      [],
      [],
      [],
      [],
      [{ name: '$EOF', fileDescriptor: 0, expand: true, chomp: false, content: '' }],
      [],
    ]);
  });

  it('attaches ONBUILD heredocs to the ONBUILD node and keeps CRLF in bodies', () => {
    const t = parseDockerfile('ONBUILD RUN <<EOF\r\nhi\r\nEOF\r\n');
    expect(t.children[0]!.heredocs).toEqual([{ name: 'EOF', fileDescriptor: 0, expand: true, chomp: false, content: 'hi\r\n' }]);
    expect(t.children[0]!.original).toBe('ONBUILD RUN <<EOF');
  });

  it('fails the parse on a heredoc word the lexer cannot read', () => {
    // The `${x:-…}` scan drops the escape, leaving the word `<<'b}` with an open quote.
    const e = error("FROM a\nRUN ${x:-a <<\\'b}\n");
    expect(e.code).toBe('E_EXPANSION');
    expect(e.data.reason).toBe('failed to process "\'b}": unexpected end of statement while looking for matching single-quote');
    // A line the lexer cannot read at all simply has no heredocs.
    expect(parseDockerfile('RUN <<EOF "open\n').children[0]!.heredocs).toEqual([]);
  });
});

describe('limits', () => {
  it('rejects a line longer than BuildKit scanner limit', () => {
    const e = error('FROM a\nRUN ' + 'x'.repeat(70000) + '\n');
    expect(e.code).toBe('E_LINE_TOO_LONG');
    expect(e.location?.line).toBe(2);
    expect(() => parseDockerfile('FROM a\nRUN ' + 'x'.repeat(65530) + '\n')).not.toThrow();
  });
});
