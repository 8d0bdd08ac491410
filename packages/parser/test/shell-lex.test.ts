/**
 * Table tests of the shell lexer beyond BuildKit's data files: the backtick escape token, the
 * pattern operators, options, word splitting, parameters and exact error messages.
 *
 * Every expected value in ORACLE_TABLE was produced by BuildKit's own `shell.Lex` (lex.go at
 * moby/buildkit 73ed6825c, built with Go 1.19 on Linux) for the same input, not written by hand.
 * UPSTREAM_MATCHES is BuildKit's `TestProcessWithMatches` table, transcribed from lex_test.go.
 */
import { describe, expect, it } from 'vitest';
import { ShellExpansionError } from '../src/errors.js';
import { ShellLex, type EnvLookup, type LexOptions } from '../src/shell/index.js';

interface OracleRow {
  word: string;
  env?: [string, string][];
  escape?: '`';
  options?: LexOptions;
  result?: string;
  matched?: string[];
  unmatched?: string[];
  words?: string[];
  error?: string;
}

const ORACLE_TABLE: Record<string, OracleRow[]> = {
  "backtick escape token": [
    {"word":"he`$PWD `\"x`\"","env":[["PWD","/home"]],"escape":"`","result":"he$PWD \"x\"","matched":[],"unmatched":[]},
    {"word":"\"a`\"b`$c``d`e\"","escape":"`","result":"a\"b$c`d`e","matched":[],"unmatched":[]},
    {"word":"C:\\path\\to`\\x","escape":"`","result":"C:\\path\\to\\x","matched":[],"unmatched":[]},
    {"word":"a`","escape":"`","result":"a","matched":[],"unmatched":[]},
    {"word":"'a`b'","escape":"`","result":"a`b","matched":[],"unmatched":[]},
    {"word":"\"a\\\"","escape":"`","result":"a\\","matched":[],"unmatched":[]},
    {"word":"${A#`*}","env":[["A","`*x"]],"escape":"`","result":"*x","matched":["A"],"unmatched":[]},
    {"word":"${A#\\*}","env":[["A","*x"]],"escape":"`","result":"x","matched":["A"],"unmatched":[]},
    {"word":"${A:-`}}","escape":"`","result":"}","matched":[],"unmatched":["A"]},
    {"word":"a` b c","escape":"`","words":["a b","c"]},
    {"word":"\"a`","escape":"`","error":"failed to process \"\\\"a`\": unexpected end of statement while looking for matching double-quote"},
  ],
  "pattern operators": [
    {"word":"${A%.*}","env":[["A","archive.tar.gz"]],"result":"archive.tar","matched":["A"],"unmatched":[]},
    {"word":"${A%%.*}","env":[["A","archive.tar.gz"]],"result":"archive","matched":["A"],"unmatched":[]},
    {"word":"${A#*.}","env":[["A","archive.tar.gz"]],"result":"tar.gz","matched":["A"],"unmatched":[]},
    {"word":"${A##*.}","env":[["A","archive.tar.gz"]],"result":"gz","matched":["A"],"unmatched":[]},
    {"word":"${A#*/}","env":[["A","/usr/local/bin"]],"result":"usr/local/bin","matched":["A"],"unmatched":[]},
    {"word":"${A##*/}","env":[["A","/usr/local/bin"]],"result":"bin","matched":["A"],"unmatched":[]},
    {"word":"${A%/*}","env":[["A","/usr/local/bin"]],"result":"/usr/local","matched":["A"],"unmatched":[]},
    {"word":"${A/?ocal/LOCAL}","env":[["A","/usr/local/bin"]],"result":"/usr/LOCAL/bin","matched":["A"],"unmatched":[]},
    {"word":"${A//\\//:}","env":[["A","/usr/local/bin"]],"result":":usr:local:bin","matched":["A"],"unmatched":[]},
    {"word":"${A/o*l/_}","env":[["A","foo-bool-cool"]],"result":"f_","matched":["A"],"unmatched":[]},
    {"word":"${A//o*l/_}","env":[["A","foo-bool-cool"]],"result":"f_","matched":["A"],"unmatched":[]},
    {"word":"${A#[a]}","env":[["A","[a]b"]],"result":"b","matched":["A"],"unmatched":[]},
    {"word":"${A#a\\}}","env":[["A","a}b"]],"result":"b","matched":["A"],"unmatched":[]},
    {"word":"${A#\"*\"}","env":[["A","xyz"]],"result":"xyz","matched":["A"],"unmatched":[]},
    {"word":"${A#'*'}","env":[["A","xyz"]],"result":"xyz","matched":["A"],"unmatched":[]},
    {"word":"${A#*}","env":[["A","a\nb"]],"result":"a\nb","matched":["A"],"unmatched":[]},
    {"word":"${A##*}","env":[["A","a\nb"]],"result":"\nb","matched":["A"],"unmatched":[]},
    {"word":"${A%%*}","env":[["A","a\nb"]],"result":"a\n","matched":["A"],"unmatched":[]},
    {"word":"${A##*\n}","env":[["A","a\nb\nc"]],"result":"b\nc","matched":["A"],"unmatched":[]},
    {"word":"${A//?/x}","env":[["A","a\nb"]],"result":"x\nx","matched":["A"],"unmatched":[]},
    {"word":"${A///x}","env":[["A","ab"]],"result":"xaxbx","matched":["A"],"unmatched":[]},
    {"word":"${A//b/[$0]}","env":[["A","abcb"],["0","Z"]],"result":"a[Z]c[Z]","matched":["0","A"],"unmatched":[]},
    {"word":"${A//b/\\$0}","env":[["A","abcb"]],"result":"a\\bc\\b","matched":["A"],"unmatched":[]},
    {"word":"${A//b/$R}","env":[["A","abcb"],["R","<$0|${0}|$$|$1|${x|$>"]],"result":"a<b|b|$||${x|$>c<b|b|$||${x|$>","matched":["A","R"],"unmatched":[]},
    {"word":"${A/b/$R}","env":[["A","abcb"],["R","<$0>"]],"result":"a<$0>cb","matched":["A","R"],"unmatched":[]},
    {"word":"${A#*a*a*b}","env":[["A","aaaaab"]],"result":"","matched":["A"],"unmatched":[]},
    {"word":"${A%%😀*}","env":[["A","x😀y😀z"]],"result":"x","matched":["A"],"unmatched":[]},
    {"word":"${A%?}","env":[["A","x😀"]],"result":"x","matched":["A"],"unmatched":[]},
    {"word":"${U#x}${U/x/y}","result":"","matched":[],"unmatched":["U"]},
  ],
  "options": [
    {"word":"$X","options":{"skipUnsetEnv":true},"result":"$X","matched":[],"unmatched":["X"]},
    {"word":"${X}-${X:-d}-${X#p}-${X//a/b}-${X?oops}-${Y:-d}","env":[["Y",""]],"options":{"skipUnsetEnv":true},"result":"${X}-${X:-d}-${X#p}-${X/a/b}-${X?oops}-d","matched":["Y"],"unmatched":["X"]},
    {"word":"${X:-\"q\"}","options":{"skipUnsetEnv":true},"result":"${X:-q}","matched":[],"unmatched":["X"]},
    {"word":"'a' \"b $Y\"","env":[["Y","y"]],"options":{"rawQuotes":true},"result":"'a' \"b y\"","matched":["Y"],"unmatched":[]},
    {"word":"'a'\"b\"c","options":{"rawQuotes":true},"words":["'a'\"b\"c"]},
    {"word":"a\\ b \"c\\$d\" \"e\\f\"","options":{"rawEscapes":true},"result":"a\\ b c\\$d e\\\\f","matched":[],"unmatched":[]},
    {"word":"a\\","options":{"rawEscapes":true},"result":"a\\","matched":[],"unmatched":[]},
    {"word":"${X:-a\\*b}","options":{"rawEscapes":true},"result":"a*b","matched":[],"unmatched":["X"]},
    {"word":"'a' \"b\" $Y","env":[["Y","y"]],"options":{"skipProcessQuotes":true},"result":"'a' \"b\" y","matched":["Y"],"unmatched":[]},
    {"word":"'a b' \"c d\"","options":{"skipProcessQuotes":true},"words":["'a","b'","\"c","d\""]},
  ],
  "word splitting": [
    {"word":"ab${x:-def}gh","words":["defgh"]},
    {"word":"ab ${x:-d e}gh","words":["ab","d","egh"]},
    {"word":"ab $x gh","env":[["x","  1  2 "]],"words":["ab","1","2","gh"]},
    {"word":"a\"$x\"b","env":[["x","1 2"]],"words":["a1 2b"]},
    {"word":"a\\ b\\\tc","words":["a b\tc"]},
    {"word":"<< EOF x","words":["<< EOF","x"]},
    {"word":"a < b","words":["a","<","b"]},
    {"word":"\"\" '' x","words":["x"]},
    {"word":"a\u00a0b\u3000c\u0085d\ufeffe","words":["a","b","c","d\ufeffe"]},
    {"word":"  ","words":[]},
    {"word":"'a","error":"failed to process \"'a\": unexpected end of statement while looking for matching single-quote"},
  ],
  "parameters": [
    {"word":"\ufeff$A","env":[["A","1"]],"result":"1","matched":["A"],"unmatched":[]},
    {"word":"x\ufeff$A","env":[["A","1"]],"result":"x\ufeff1","matched":["A"],"unmatched":[]},
    {"word":"$한국어 ${KOREAN}","env":[["한국어","k"],["KOREAN","한"]],"result":"k 한","matched":["KOREAN","한국어"],"unmatched":[]},
    {"word":"$@$*$#$?$-$$$!$0$12x${10}","env":[["@","at"],["12","twelve"],["$","pid"]],"result":"atpidtwelvex","matched":["$","12","@"],"unmatched":["!","#","*","-","0","10","?"]},
    {"word":"${#}","env":[["#","n"]],"result":"n","matched":["#"],"unmatched":[]},
    {"word":"$ $. $/ ${A}}","env":[["A","a"]],"result":"$ $. $/ a}","matched":["A"],"unmatched":[]},
    {"word":"${@:-none}","result":"none","matched":[],"unmatched":["@"]},
    {"word":"$A_1-$A","env":[["A_1","x"],["A","y"]],"result":"x-y","matched":["A","A_1"],"unmatched":[]},
  ],
  "errors": [
    {"word":"${#A}","env":[["#","n"]],"error":"failed to process \"${#A}\": unsupported modifier (A) in substitution"},
    {"word":"${A%\\}","env":[["A","ab"]],"error":"failed to process \"${A%\\\\}\": syntax error: missing '}'"},
    {"word":"${A#\\x}","env":[["A","ab"]],"error":"failed to process \"${A#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'"},
    {"word":"${A#$P}","env":[["A","ab"],["P","a\\"]],"error":"failed to process \"${A#$P}\": invalid pattern (a\\) in substitution: invalid escape '\\�'"},
    {"word":"${A%$P}","env":[["A","ab"],["P","a\\"]],"error":"failed to process \"${A%$P}\": invalid pattern (\\a) in substitution: invalid escape '\\a'"},
    {"word":"${A:x}","error":"failed to process \"${A:x}\": unsupported modifier (:x) in substitution"},
    {"word":"${A=x}","error":"failed to process \"${A=x}\": unsupported modifier (=) in substitution"},
    {"word":"${A:=x}","error":"failed to process \"${A:=x}\": unsupported modifier (:=) in substitution"},
    {"word":"${A","error":"failed to process \"${A\": unsupported modifier (�) in substitution"},
    {"word":"${A:","error":"failed to process \"${A:\": syntax error: missing '}'"},
    {"word":"${A:}","error":"failed to process \"${A:}\": syntax error: missing '}'"},
    {"word":"${A/x","error":"failed to process \"${A/x\": syntax error: missing '/' in ${}"},
    {"word":"${A/x/y","error":"failed to process \"${A/x/y\": syntax error: missing '}'"},
    {"word":"${A:#x}","error":"failed to process \"${A:#x}\": unsupported modifier (:#) in substitution"},
    {"word":"${A:%%x}","error":"failed to process \"${A:%%x}\": unsupported modifier (:%) in substitution"},
    {"word":"${A:/x/y}","error":"failed to process \"${A:/x/y}\": unsupported modifier (:/) in substitution"},
    {"word":"${A?}","error":"failed to process \"${A?}\": A: is not allowed to be unset"},
    {"word":"${A:?}","env":[["A",""]],"error":"failed to process \"${A:?}\": A: is not allowed to be empty"},
    {"word":"${A?must set $B}","env":[["B","A"]],"error":"failed to process \"${A?must set $B}\": A: must set A"},
    {"word":"${}","error":"failed to process \"${}\": syntax error: bad substitution"},
    {"word":"${:}","error":"failed to process \"${:}\": syntax error: bad substitution"},
    {"word":"${{A}}","error":"failed to process \"${{A}}\": syntax error: bad substitution"},
    {"word":"${","error":"failed to process \"${\": syntax error: missing '}'"},
    {"word":"'abc","error":"failed to process \"'abc\": unexpected end of statement while looking for matching single-quote"},
    {"word":"\"abc","error":"failed to process \"\\\"abc\": unexpected end of statement while looking for matching double-quote"},
    {"word":"\"abc\\","error":"failed to process \"\\\"abc\\\\\": unexpected end of statement while looking for matching double-quote"},
    {"word":"${A:-x","error":"failed to process \"${A:-x\": syntax error: missing '}'"},
    {"word":"${A:-${B?}","error":"failed to process \"${A:-${B?}\": syntax error: missing '}'"},
    {"word":"${A:-${B?}}","error":"failed to process \"${A:-${B?}}\": B: is not allowed to be unset"},
    {"word":"${A:-'}","error":"failed to process \"${A:-'}\": syntax error: missing '}'"},
    {"word":"tab\there\u0001${","error":"failed to process \"tab\\there\\x01${\": syntax error: missing '}'"},
    {"word":"é\u00a0\u200b😀${","error":"failed to process \"é\\u00a0\\u200b😀${\": syntax error: missing '}'"},
  ],
};

function expectExpansionError(fn: () => unknown, message: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ShellExpansionError);
  expect((caught as ShellExpansionError).code).toBe('E_EXPANSION');
  expect((caught as ShellExpansionError).message).toBe(message);
}

for (const [group, rows] of Object.entries(ORACLE_TABLE)) {
  describe(`BuildKit oracle: ${group}`, () => {
    it.each(rows.map((r) => [r.word, r] as const))('%j', (_word, row) => {
      const lex = new ShellLex(row.escape ?? '\\', row.options ?? {});
      const env = new Map(row.env ?? []);
      if (row.error !== undefined) {
        const call = row.words ? () => lex.processWords(row.word, env) : () => lex.processWordWithMatches(row.word, env);
        expectExpansionError(call, row.error);
      } else if (row.words) {
        expect(lex.processWords(row.word, env)).toEqual(row.words);
      } else {
        const got = lex.processWordWithMatches(row.word, env);
        expect(got.result).toBe(row.result);
        expect([...got.matched].sort()).toEqual(row.matched);
        expect([...got.unmatched].sort()).toEqual(row.unmatched);
        expect(lex.processWord(row.word, env)).toBe(row.result);
      }
    });
  });
}

interface UpstreamRow {
  input: string;
  envs: Record<string, string>;
  expected?: string;
  expectedErr?: true;
  matches?: string[];
  unmatched?: string[];
}

/** moby/buildkit frontend/dockerfile/shell/lex_test.go, TestProcessWithMatches. */
const UPSTREAM_MATCHES: UpstreamRow[] = [
  { input: 'x', envs: { DUMMY: 'dummy' }, expected: 'x' },
  { input: 'x ${UNUSED}', envs: { DUMMY: 'dummy' }, expected: 'x ', unmatched: ['UNUSED'] },
  { input: 'x ${FOO}', envs: { FOO: 'y' }, expected: 'x y', matches: ['FOO'] },
  { input: '${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', envs: { FOO: 'xxx', BAR: '' }, expected: 'xxx  ccc', matches: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', envs: { FOO: 'xxx', BAR: '' }, expected: 'xxx bbb ccc', matches: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:-}', envs: { FOO: 'xxx', BAR: '' }, expected: 'xxx', matches: ['FOO'] },
  { input: '${FOO:-}', envs: {}, expected: '', unmatched: ['FOO'] },
  { input: '${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', envs: { FOO: 'xxx', BAR: '' }, expected: 'aaa bbb ', matches: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', envs: { FOO: 'xxx', BAR: '' }, expected: 'aaa  ', matches: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO?aaa}', envs: { FOO: 'xxx', BAR: '' }, expected: 'xxx', matches: ['FOO'] },
  { input: '${BAR?bbb}', envs: { FOO: 'xxx', BAR: '' }, expected: '', matches: ['BAR'] },
  { input: '${BAZ?ccc}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${FOO:?aaa}', envs: { FOO: 'xxx', BAR: '' }, expected: 'xxx', matches: ['FOO'] },
  { input: '${BAR:?bbb}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${BAZ:?ccc}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${BAZ:?}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${FOO=aaa}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${FOO=:aaa}', envs: { FOO: 'xxx', BAR: '' }, expectedErr: true },
  { input: '${FOO=}', envs: {}, expectedErr: true },
  { input: '${FOO#()[]{\\}^$.\\*\\?|\\\\}', envs: { FOO: '()[]{}^$.*?|\\x' }, expected: 'x', matches: ['FOO'] },
  { input: '${FOO%%\\**}', envs: { FOO: 'xx**' }, expected: 'xx', matches: ['FOO'] },
  { input: '${FOO#*x*y}', envs: { FOO: 'xxyy' }, expected: 'y', matches: ['FOO'] },
  { input: '${FOO#*}', envs: { FOO: 'xxyy' }, expected: 'xxyy', matches: ['FOO'] },
  { input: '${FOO#$BAR}', envs: { FOO: 'xxyy', BAR: 'x' }, expected: 'xyy', matches: ['FOO', 'BAR'] },
  { input: '${FOO#$BAR}', envs: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', matches: ['FOO', 'BAR'] },
  { input: '${FOO#}', envs: { FOO: 'xxyy' }, expected: 'xxyy', matches: ['FOO'] },
  { input: '${FOO##*x}', envs: { FOO: 'xxyy' }, expected: 'yy', matches: ['FOO'] },
  { input: '${FOO##}', envs: { FOO: 'xxyy' }, expected: 'xxyy', matches: ['FOO'] },
  { input: '${FOO#?\\?}', envs: { FOO: '???y' }, expected: '?y', matches: ['FOO'] },
  { input: '${ABC:-.}${FOO%x}${ABC:-.}', envs: { FOO: 'xxyy' }, expected: '.xxyy.', matches: ['FOO'], unmatched: ['ABC'] },
  { input: '${FOO%%\\**\\*}', envs: { FOO: 'a***yy*' }, expected: 'a', matches: ['FOO'] },
  { input: '${FOO%}', envs: { FOO: 'xxyy' }, expected: 'xxyy', matches: ['FOO'] },
  { input: '${FOO%%$BAR}', envs: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', matches: ['FOO', 'BAR'] },
  { input: '${FOO:#}', envs: {}, expectedErr: true },
  { input: '${FOO:##}', envs: {}, expectedErr: true },
  { input: '${FOO:%}', envs: {}, expectedErr: true },
  { input: '${FOO:%%}', envs: {}, expectedErr: true },
  { input: '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', envs: { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, expected: '/foo.*/*.txt - /foo..*.txt', matches: ['FOO', 'NEEDLE'] },
  { input: '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', envs: { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, expected: '/tmp/bar.txt - /bar.txt', matches: ['FOO', 'NEEDLE'] },
  { input: '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}', envs: { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' }, expected: '/foo/b/c.txt - /foo/c.txt', matches: ['FOO', 'NEEDLE', 'REPLACEMENT'] },
  { input: '${FOO/$NEEDLE/$REPLACEMENT}', envs: { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' }, expected: 'https://google.de', matches: ['FOO', 'NEEDLE', 'REPLACEMENT'] },
  { input: '${FOO//\\//\\/}', envs: { FOO: '/tmp/foo.txt' }, expected: '\\/tmp\\/foo.txt', matches: ['FOO'] },
  { input: '${FOO/$BAR/ww}', envs: { FOO: 'xxyy', BAR: '' }, expected: 'wwxxyy', matches: ['FOO', 'BAR'] },
  { input: '${FOO//ww}', envs: { FOO: 'xxyy' }, expectedErr: true },
  { input: '${FOO//}', envs: { FOO: 'xxyy' }, expectedErr: true },
  { input: '${FOO///}', envs: { FOO: 'xxyy' }, expected: 'xxyy', matches: ['FOO'] },
  { input: '${FOO///}', envs: {}, expected: '', unmatched: ['FOO'] },
];

describe('BuildKit TestProcessWithMatches', () => {
  const lex = new ShellLex('\\');
  it.each(UPSTREAM_MATCHES.map((r) => [r.input, r] as const))('%s', (_input, row) => {
    const env = new Map(Object.entries(row.envs));
    if (row.expectedErr) {
      expect(() => lex.processWordWithMatches(row.input, env)).toThrow(ShellExpansionError);
      return;
    }
    const got = lex.processWordWithMatches(row.input, env);
    expect(got.result).toBe(row.expected);
    expect([...got.matched].sort()).toEqual([...(row.matches ?? [])].sort());
    expect([...got.unmatched].sort()).toEqual([...(row.unmatched ?? [])].sort());
  });
});

describe('BuildKit TestProcessWithMatchesPlatform', () => {
  const release = 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz';
  const lex = new ShellLex();
  it.each([
    [{ VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7' }, 'something-v1.2.3.linux-arm-v7.tar.gz'],
    [{ VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm64', TARGETVARIANT: '' }, 'something-v1.2.3.linux-arm64.tar.gz'],
    [{ VERSION: 'v1.2.3', TARGETOS: 'linux', TARGETARCH: 'arm64' }, 'something-v1.2.3.linux-arm64.tar.gz'],
  ])('%j', (envs, expected) => {
    expect(lex.processWordWithMatches(release, new Map(Object.entries(envs))).result).toBe(expected);
  });
});

describe('BuildKit TestShellParserMandatoryEnvVars', () => {
  const lex = new ShellLex('\\');
  const set = new Map([['VAR', 'plain'], ['ARG', 'x']]);
  const empty = new Map([['VAR', ''], ['ARG', 'x']]);
  const unset = new Map([['ARG', 'x']]);

  it('${VAR:?msg} rejects empty and unset, expanding the message', () => {
    expect(lex.processWord('${VAR:?message here$ARG}', set)).toBe('plain');
    expectExpansionError(() => lex.processWord('${VAR:?message here$ARG}', empty), 'failed to process "${VAR:?message here$ARG}": VAR: message herex');
    expectExpansionError(() => lex.processWord('${VAR:?message here$ARG}', unset), 'failed to process "${VAR:?message here$ARG}": VAR: message herex');
  });

  it('${VAR?msg} rejects only unset', () => {
    expect(lex.processWord('${VAR?message here$ARG}', set)).toBe('plain');
    expect(lex.processWord('${VAR?message here$ARG}', empty)).toBe('');
    expectExpansionError(() => lex.processWord('${VAR?message here$ARG}', unset), 'failed to process "${VAR?message here$ARG}": VAR: message herex');
  });
});

describe('ShellLex API', () => {
  it('accepts a lookup function; undefined means unset, "" means set but empty', () => {
    const env: EnvLookup = (name) => ({ A: 'a', E: '' } as Record<string, string>)[name];
    const got = new ShellLex().processWordWithMatches('${A}${E-e}${E:-f}${U-u}', env);
    expect(got).toEqual({ result: 'afu', matched: new Set(['A', 'E']), unmatched: new Set(['U']) });
  });

  it('does not keep state between calls', () => {
    const lex = new ShellLex();
    expect(() => lex.processWord('${A?}', new Map())).toThrow(ShellExpansionError);
    const got = lex.processWordWithMatches('$B', new Map([['B', 'b']]));
    expect(got).toEqual({ result: 'b', matched: new Set(['B']), unmatched: new Set() });
  });

  it('carries the word and the bare reason in the error data', () => {
    let caught: ShellExpansionError | undefined;
    try {
      new ShellLex().processWord('x${A:?}', new Map());
    } catch (err) {
      caught = err as ShellExpansionError;
    }
    expect(caught?.toJSON()).toEqual({
      name: 'ShellExpansionError',
      code: 'E_EXPANSION',
      message: 'failed to process "x${A:?}": A: is not allowed to be unset',
      data: { word: 'x${A:?}', reason: 'A: is not allowed to be unset' },
    });
  });

  it('rejects an escape token other than backslash and backtick', () => {
    expect(() => new ShellLex('x' as '\\')).toThrow(TypeError);
  });
});

describe('linear time on long input', () => {
  const big = 'a'.repeat(100_000);

  function timed<T>(fn: () => T): { value: T; ms: number } {
    const start = performance.now();
    const value = fn();
    return { value, ms: performance.now() - start };
  }

  it('expands a 100 kB word with quotes, escapes and variables', () => {
    const word = 'x\\ "$A" \'b\' '.repeat(9_000);
    expect(word.length).toBeGreaterThan(100_000);
    const { value, ms } = timed(() => new ShellLex().processWords(word, new Map([['A', 'v w']])));
    expect(value).toHaveLength(18_000);
    expect(value[0]).toBe('x v w');
    expect(ms).toBeLessThan(2_000);
  });

  it('matches many-star patterns against a 100 kB value without backtracking', () => {
    // A backtracking regex needs O(n^5) steps here; BuildKit's RE2 and our Pike VM need O(n·m).
    const env = new Map([['V', big]]);
    const lex = new ShellLex();
    const cases: [string, string][] = [
      ['${V#*a*a*a*a*b}', big],
      ['${V##*a*a*a*a*b}', big],
      ['${V%*a*a*a*a*b}', big],
      ['${V%%a*a*a*a*b*}', big],
      ['${V/*a*a*a*a*b/x}', big],
      ['${V//a*a*a*a*b/x}', big],
      ['${V##*a*a*a*a}', ''],
      ['${V%a*a}', 'a'.repeat(99_998)],
      ['${V//a/b}', 'b'.repeat(100_000)],
    ];
    for (const [word, expected] of cases) {
      const { value, ms } = timed(() => lex.processWord(word, env));
      expect(value, word).toBe(expected);
      expect(ms, word).toBeLessThan(2_000);
    }
  });

  it('handles a 100 kB pattern', () => {
    // Like RE2, the cost is O(value × live pattern states); a long pattern of literals and `?`
    // keeps one state alive, and runs of `*` collapse to one.
    const env = new Map([['V', big + 'b']]);
    const lex = new ShellLex();
    const cases: [string, string][] = [
      [`\${V#${'a?'.repeat(50_000)}}`, 'b'],
      [`\${V%${'*'.repeat(100_000)}}`, big + 'b'],
      [`\${V%%${'*'.repeat(100_000)}}`, ''],
      [`\${V/*${'c'.repeat(100_000)}/x}`, big + 'b'],
    ];
    for (const [word, expected] of cases) {
      expect(word.length).toBeGreaterThan(100_000);
      const { value, ms } = timed(() => lex.processWord(word, env));
      expect(value).toBe(expected);
      expect(ms).toBeLessThan(2_000);
    }
  });
});
