import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError } from '../src/errors.js';
import { parseInstruction, parseMountSpec, resolveMount, parseChmod, parseGoDuration, splitCsv, ramInBytes } from '../src/instructions/index.js';
import type { SyntaxNode } from '../src/syntax/types.js';

let line = 0;
function node(keyword: string, args: string[], opts: Partial<SyntaxNode> = {}): SyntaxNode {
  line++;
  return {
    keyword: keyword.toLowerCase(),
    keywordText: keyword,
    flags: [],
    args,
    json: false,
    heredocs: [],
    original: `${keyword} ${(opts.flags ?? []).join(' ')} ${args.join(' ')}`.replace(/\s+/g, ' ').trim(),
    range: { startLine: line, startColumn: 1, endLine: line, endColumn: 20 },
    comments: [],
    ...opts,
  };
}

function fails(n: SyntaxNode, code: string, message: string | RegExp) {
  let err: unknown;
  try {
    parseInstruction(n, 'Dockerfile');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DockerfileSyntaxError);
  const e = err as DockerfileSyntaxError;
  expect(e.code).toBe(code);
  expect(e.location).toMatchObject({ file: 'Dockerfile', line: n.range.startLine, column: 1 });
  if (typeof message === 'string') expect(e.message).toContain(message);
  else expect(e.message).toMatch(message);
}

describe('FROM', () => {
  it('types image, lowercased stage name and raw --platform', () => {
    const i = parseInstruction(node('FROM', ['alpine:$V', 'AS', 'Build'], { flags: ['--platform=$BUILDPLATFORM'] }));
    expect(i).toMatchObject({ kind: 'FROM', image: 'alpine:$V', stageName: 'build', platform: '$BUILDPLATFORM', keywordText: 'FROM' });
  });
  it.each([
    [['a', 'b'], 'FROM requires either one or three arguments'],
    [['a', 'to', 'b'], 'FROM requires either one or three arguments'],
    [['a', 'as', '1x'], 'invalid name for build stage: "1x"'],
    [['a', 'as', 'a$b'], 'invalid name for build stage'],
  ])('rejects %j', (args, msg) => fails(node('FROM', args), 'E_ARGUMENTS', msg));
  it('rejects unknown and case-mismatched flags like BuildKit', () => {
    fails(node('FROM', ['a'], { flags: ['--platfrom=x'] }), 'E_FLAG', 'unknown flag: --platfrom (did you mean platform?)');
    fails(node('FROM', ['a'], { flags: ['--PLATFORM=x'] }), 'E_FLAG', 'unknown flag: --PLATFORM');
    fails(node('FROM', ['a'], { flags: ['--platform'] }), 'E_FLAG', 'missing a value on flag: --platform');
    fails(node('FROM', ['a'], { flags: ['--platform=a', '--platform=b'] }), 'E_FLAG', 'duplicate flag specified: --platform');
  });
});

describe('RUN', () => {
  it('shell and exec forms, defaults', () => {
    expect(parseInstruction(node('RUN', ['echo  hi']))).toMatchObject({ command: { form: 'shell', script: 'echo  hi' }, network: 'default', security: 'sandbox', mounts: [] });
    expect(parseInstruction(node('RUN', ['echo', 'hi'], { json: true }))).toMatchObject({ command: { form: 'exec', args: ['echo', 'hi'] } });
  });
  it('keeps heredocs', () => {
    const h = { name: 'EOF', fileDescriptor: 0, expand: true, chomp: false, content: 'echo hi\n' };
    expect(parseInstruction(node('RUN', ['<<EOF'], { heredocs: [h] }))).toMatchObject({ heredocs: [h], command: { form: 'shell', script: '<<EOF' } });
  });
  it('flags: --mount (repeatable), --network, --security', () => {
    const i = parseInstruction(node('RUN', ['true'], { flags: ['--mount=type=cache,target=/c', '--mount=type=secret,id=x', '--network=none', '--security=insecure'] }));
    expect(i).toMatchObject({ network: 'none', security: 'insecure', flagsUsed: ['mount', 'network', 'security'] });
    if (i.kind !== 'RUN') throw new Error();
    expect(i.mounts.map((m) => m.fields)).toEqual([
      [{ key: 'type', value: 'cache' }, { key: 'target', value: '/c' }],
      [{ key: 'type', value: 'secret' }, { key: 'id', value: 'x' }],
    ]);
  });
  it.each([
    [['--network=bridge'], 'invalid network mode "bridge"'],
    [['--security=root'], 'security "root" is not valid'],
    [['--network=none', '--network=host'], 'duplicate flag specified: --network'],
    [['--mount=from=$X,target=/x'], "'from' doesn't support variable expansion"],
    [['--mount="target=/a'], 'extraneous or missing " in quoted-field'],
    [['--mount=target="/a"'], 'bare " in non-quoted-field'],
    [['--mount'], 'missing a value on flag: --mount'],
    [['--device=x'], 'unknown flag: --device'],
  ])('rejects %j', (flags, msg) => fails(node('RUN', ['true'], { flags }), 'E_FLAG', msg));
  it('a lone -- ends the flags', () => {
    expect(parseInstruction(node('RUN', ['true'], { flags: ['--', '--bogus'] }))).toMatchObject({ kind: 'RUN' });
  });
});

describe('COPY / ADD', () => {
  it('COPY with every flag', () => {
    const i = parseInstruction(
      node('COPY', ['a', 'b', '/dst/'], { flags: ['--from=build', '--chown=$U:g', '--chmod=u+x', '--link', '--parents', '--exclude=*.md', '--exclude=x'] }),
    );
    expect(i).toEqual(
      expect.objectContaining({ kind: 'COPY', sources: ['a', 'b'], dest: '/dst/', from: 'build', chown: '$U:g', chmod: 'u+x', link: true, parents: true, exclude: ['*.md', 'x'], heredocSources: [] }),
    );
  });
  it('ADD with every flag', () => {
    const i = parseInstruction(node('ADD', ['https://x/a.tgz', '/d'], { flags: ['--checksum=sha256:abc', '--keep-git-dir=false', '--unpack=true', '--link=false', '--chmod=0644'] }));
    expect(i).toMatchObject({ kind: 'ADD', checksum: 'sha256:abc', keepGitDir: false, unpack: true, link: false, chmod: '0644' });
    const plain = parseInstruction(node('ADD', ['a', '/d']));
    expect(plain).not.toHaveProperty('keepGitDir');
    expect(plain).not.toHaveProperty('unpack');
  });
  it('heredoc sources, chomped, expand flag from the heredoc', () => {
    const i = parseInstruction(
      node('COPY', ['<<-A', '<<"B"', '/dst/'], {
        heredocs: [
          { name: 'A', fileDescriptor: 0, expand: true, chomp: true, content: '\t\thello $X\n' },
          { name: 'B', fileDescriptor: 0, expand: false, chomp: false, content: '\tworld\n' },
        ],
      }),
    );
    expect(i).toMatchObject({ sources: [], heredocSources: [{ path: 'A', data: 'hello $X\n', expand: true }, { path: 'B', data: '\tworld\n', expand: false }] });
  });
  it.each([
    ['COPY', [], ['a'], 'E_ARGUMENTS', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['ADD', [], ['a'], 'E_ARGUMENTS', 'ADD requires at least two arguments'],
    ['COPY', [], ['a', '<<EOF'], 'E_ARGUMENTS', 'COPY cannot accept a heredoc as a destination'],
    ['COPY', ['--checksum=x'], ['a', 'b'], 'E_FLAG', 'unknown flag: --checksum'],
    ['ADD', ['--from=x'], ['a', 'b'], 'E_FLAG', 'unknown flag: --from'],
    ['ADD', ['--parents'], ['a', 'b'], 'E_FLAG', 'unknown flag: --parents'],
    ['COPY', ['--link=maybe'], ['a', 'b'], 'E_FLAG', 'expecting boolean value for flag --link, not: maybe'],
    ['COPY', ['--link='], ['a', 'b'], 'E_FLAG', 'missing a value on flag: --link'],
    ['COPY', ['--from'], ['a', 'b'], 'E_FLAG', 'missing a value on flag: --from'],
    ['COPY', ['--chown=a', '--chown=b'], ['a', 'b'], 'E_FLAG', 'duplicate flag specified: --chown'],
  ])('%s %j %j rejected', (kw, flags, args, code, msg) => fails(node(kw, args, { flags }), code, msg));
});

describe('ENV / LABEL / ARG', () => {
  it('ENV and LABEL triples', () => {
    expect(parseInstruction(node('ENV', ['A', '1', '=', 'B', 'two words', '']))).toMatchObject({
      env: [{ key: 'A', value: '1', legacy: false }, { key: 'B', value: 'two words', legacy: true }],
    });
    expect(parseInstruction(node('LABEL', ['a.b', 'c', '=']))).toMatchObject({ labels: [{ key: 'a.b', value: 'c', legacy: false }] });
  });
  it('ARG names with and without defaults', () => {
    expect(parseInstruction(node('ARG', ['A', 'B=', 'C=x=y']))).toMatchObject({ args: [{ key: 'A' }, { key: 'B', value: '' }, { key: 'C', value: 'x=y' }] });
  });
  it.each([
    ['ENV', [], 'ENV requires at least one argument'],
    ['ENV', ['', 'x', '='], 'ENV names can not be blank'],
    ['LABEL', [], 'LABEL requires at least one argument'],
    ['ARG', [], 'ARG requires at least one argument'],
    ['ARG', ['=x'], 'ARG names can not be blank'],
  ])('%s %j rejected', (kw, args, msg) => fails(node(kw, args), 'E_ARGUMENTS', msg));
  it('ENV takes no flags; ARG and STOPSIGNAL ignore them as BuildKit does', () => {
    fails(node('ENV', ['A', '1', '='], { flags: ['--x'] }), 'E_FLAG', 'unknown flag: --x; this instruction takes no flags');
    expect(parseInstruction(node('ARG', ['A'], { flags: ['--x'] }))).toMatchObject({ kind: 'ARG' });
    expect(parseInstruction(node('STOPSIGNAL', ['SIGTERM'], { flags: ['--x'] }))).toMatchObject({ signal: 'SIGTERM' });
  });
});

describe('single-argument and list instructions', () => {
  it.each([
    ['WORKDIR', ['/a'], { path: '/a' }],
    ['USER', ['u:g'], { user: 'u:g' }],
    ['MAINTAINER', ['me <me@x>'], { maintainer: 'me <me@x>' }],
    ['STOPSIGNAL', ['SIGKILL'], { signal: 'SIGKILL' }],
    ['VOLUME', [' /a ', '/b'], { volumes: ['/a', '/b'] }],
    ['EXPOSE', ['8080', '443/tcp', '80'], { ports: ['443/tcp', '80', '8080'] }],
  ])('%s %j', (kw, args, expected) => {
    expect(parseInstruction(node(kw, args))).toMatchObject({ kind: kw, ...expected });
  });
  it.each([
    ['WORKDIR', ['a', 'b'], 'WORKDIR requires exactly one argument'],
    ['USER', [], 'USER requires exactly one argument'],
    ['MAINTAINER', ['a', 'b'], 'MAINTAINER requires exactly one argument'],
    ['STOPSIGNAL', [], 'STOPSIGNAL requires exactly one argument'],
    ['VOLUME', [], 'VOLUME requires at least one argument'],
    ['VOLUME', [' '], 'VOLUME specified can not be an empty string'],
    ['EXPOSE', [], 'EXPOSE requires at least one argument'],
    ['SHELL', ['/bin/sh -c'], 'SHELL requires the arguments to be in JSON form'],
  ])('%s %j rejected', (kw, args, msg) => fails(node(kw, args), 'E_ARGUMENTS', msg));
  it('SHELL, CMD, ENTRYPOINT', () => {
    expect(parseInstruction(node('SHELL', ['/bin/bash', '-c'], { json: true }))).toMatchObject({ shell: ['/bin/bash', '-c'] });
    fails(node('SHELL', [], { json: true }), 'E_ARGUMENTS', 'SHELL requires at least one argument');
    expect(parseInstruction(node('CMD', ['a', 'b'], { json: true }))).toMatchObject({ command: { form: 'exec', args: ['a', 'b'] } });
    expect(parseInstruction(node('ENTRYPOINT', [], { json: true }))).toMatchObject({ command: { form: 'exec', args: [] } });
    expect(parseInstruction(node('CMD', ['echo $HOME']))).toMatchObject({ command: { form: 'shell', script: 'echo $HOME' } });
    fails(node('CMD', ['x'], { flags: ['--y=1'] }), 'E_FLAG', 'unknown flag: --y');
  });
});

describe('HEALTHCHECK', () => {
  it('CMD form with every flag (durations in ns)', () => {
    const i = parseInstruction(
      node('HEALTHCHECK', ['CMD', 'curl -f http://x/'], { flags: ['--interval=1m30s', '--timeout=500ms', '--start-period=2s', '--start-interval=1.5s', '--retries=3'] }),
    );
    expect(i).toMatchObject({
      health: { kind: 'cmd', test: ['CMD-SHELL', 'curl -f http://x/'], interval: 90e9, timeout: 5e8, startPeriod: 2e9, startInterval: 1.5e9, retries: 3 },
    });
    expect(parseInstruction(node('HEALTHCHECK', ['CMD', 'a', 'b'], { json: true }))).toMatchObject({ health: { test: ['CMD', 'a', 'b'], interval: 0 } });
  });
  it('NONE form ignores flags', () => {
    expect(parseInstruction(node('HEALTHCHECK', ['none'], { flags: ['--bogus'] }))).toMatchObject({ health: { kind: 'none' } });
  });
  it.each([
    [[], ['NONE', 'x'], 'E_ARGUMENTS', 'HEALTHCHECK NONE takes no arguments'],
    [[], ['FOO', 'x'], 'E_ARGUMENTS', 'Unknown type "FOO" in HEALTHCHECK (try CMD)'],
    [['--interval=10'], ['CMD', 'x'], 'E_FLAG', 'time: missing unit in duration "10"'],
    [['--interval=1x'], ['CMD', 'x'], 'E_FLAG', 'time: unknown unit "x" in duration "1x"'],
    [['--timeout=1us'], ['CMD', 'x'], 'E_FLAG', 'Interval "timeout" cannot be less than 1ms'],
    [['--retries=-1'], ['CMD', 'x'], 'E_FLAG', '--retries cannot be negative (-1)'],
    [['--retries=x'], ['CMD', 'x'], 'E_FLAG', 'strconv.ParseInt: parsing "x": invalid syntax'],
    [['--bogus=1'], ['CMD', 'x'], 'E_FLAG', 'unknown flag: --bogus'],
  ])('%j %j rejected', (flags, args, code, msg) => fails(node('HEALTHCHECK', args, { flags }), code, msg));
});

describe('ONBUILD', () => {
  it('wraps a typed trigger and keeps the expression', () => {
    const sub = node('RUN', ['echo hi']);
    const i = parseInstruction(node('ONBUILD', [], { sub, original: 'ONBUILD RUN echo hi' }));
    expect(i).toMatchObject({ kind: 'ONBUILD', expression: 'RUN echo hi', trigger: { kind: 'RUN', command: { form: 'shell', script: 'echo hi' } } });
  });
  it('an invalid trigger is kept (BuildKit checks it only when used)', () => {
    const i = parseInstruction(node('ONBUILD', [], { sub: node('COPY', ['a']), original: 'ONBUILD COPY a' }));
    expect(i).toMatchObject({ kind: 'ONBUILD', expression: 'COPY a' });
    expect(i).not.toHaveProperty('trigger');
  });
  it.each([
    ['ONBUILD', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ['FROM', "FROM isn't allowed as an ONBUILD trigger"],
    ['MAINTAINER', "MAINTAINER isn't allowed as an ONBUILD trigger"],
  ])('ONBUILD %s rejected', (kw, msg) => fails(node('ONBUILD', [], { sub: node(kw, ['x']) }), 'E_ARGUMENTS', msg));
});

describe('unknown instruction', () => {
  it('suggests the closest keyword', () => {
    fails(node('COPPY', ['a', 'b']), 'E_UNKNOWN_INSTRUCTION', 'unknown instruction: COPPY (did you mean COPY?)');
    fails(node('bogus', ['x']), 'E_UNKNOWN_INSTRUCTION', /^Dockerfile:\d+:1: unknown instruction: bogus;/);
  });
});

describe('mount resolution (after expansion)', () => {
  const id = (w: string) => w;
  it.each([
    ['target=/x', { type: 'bind', readOnly: true, target: '/x' }],
    ['type=bind,target=/x,rw', { type: 'bind', readOnly: false }],
    ['type=cache,target=/c', { type: 'cache', readOnly: false, sharing: '' }],
    ['type=cache,dst=/c,id=k,sharing=LOCKED,mode=0700,uid=1,gid=2,ro', { id: 'k', sharing: 'locked', mode: 0o700, uid: 1, gid: 2, readOnly: true }],
    ['type=tmpfs,destination=/t,size=64m', { type: 'tmpfs', sizeLimit: 64 * 1024 * 1024, readOnly: false }],
    ['type=secret,id=tok,env=TOKEN,required', { type: 'secret', id: 'tok', env: 'TOKEN', required: true, readOnly: true }],
    ['type=ssh,required=false', { type: 'ssh', required: false }],
    ['type=bind,from=build,source=/out,target=/in,readonly=false', { from: 'build', source: '/out', readOnly: false }],
  ])('%s', (raw, expected) => {
    expect(resolveMount(parseMountSpec(raw), id)).toMatchObject(expected);
  });
  it.each([
    ['type=foo', 'unsupported mount type "foo"'],
    ['type=cahce', 'unsupported mount type "cahce" (did you mean cache?)'],
    ['type=cache,sharing=x', 'unsupported sharing value "x"'],
    ['type=bind,sharing=shared', 'invalid cache sharing set for bind mount'],
    ['type=bind,mode=0700', 'mode not allowed for "bind" type mounts'],
    ['type=tmpfs,uid=1', 'uid not allowed for "tmpfs" type mounts'],
    ['type=cache,mode=9', 'invalid value 9 for mode'],
    ['type=bind,size=1m', "unexpected key 'size' for mount type 'bind'"],
    ['type=bind,required', "unexpected key 'required' for mount type 'bind'"],
    ['type=bind,foo', "invalid field 'foo' must be a key=value pair"],
    ['type=bind,targte=/x', "unexpected key 'targte' in 'targte=/x' (did you mean target?)"],
    ['type=bind,ro=maybe', 'invalid value for ro: maybe'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=secret,id=a,source=b', "both source and id can't be set"],
    ['type=secret,id=a,from=x', 'secret mount should not have a from'],
    ['type=tmpfs,size=lots', 'invalid value for size: lots'],
  ])('%s rejected', (raw, msg) => {
    expect(() => resolveMount(parseMountSpec(raw), id)).toThrow(msg);
  });
  it('expands values with the given expander', () => {
    expect(resolveMount(parseMountSpec('type=cache,target=$D'), (w) => w.replace('$D', '/dir'))).toMatchObject({ target: '/dir' });
  });
  it('CSV and sizes like Go', () => {
    expect(splitCsv('a,"b,c","d=""x"""')).toEqual(['a', 'b,c', 'd="x"']);
    expect(splitCsv('"x=a,b",y')).toEqual(['x=a,b', 'y']);
    expect(() => splitCsv('a"b')).toThrow('bare " in non-quoted-field');
    expect(ramInBytes('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(ramInBytes('512')).toBe(512);
  });
});

describe('chmod and durations', () => {
  it.each([
    ['755', { kind: 'octal', mode: 0o755 }],
    ['0644', { kind: 'octal', mode: 0o644 }],
    ['7777', { kind: 'octal', mode: 0o7777 }],
    ['u+x', { kind: 'symbolic', text: 'u+x' }],
    ['a=rX,u+w,go-w', { kind: 'symbolic', text: 'a=rX,u+w,go-w' }],
    ['+x', { kind: 'symbolic', text: '+x' }],
  ])('chmod %s', (t, expected) => expect(parseChmod(t)).toEqual(expected));
  it.each([['17777', 'it should be octal string and between 0 and 07777'], ['8', 'octal'], ['u+x,', 'invalid syntax'], ['z+x', 'invalid syntax'], ['u', 'invalid syntax']])(
    'chmod %s rejected',
    (t, msg) => expect(() => parseChmod(t)).toThrow(msg),
  );
  it.each([
    ['0', 0],
    ['1h', 3600e9],
    ['1.5h', 5400e9],
    ['-2m', -120e9],
    ['300ms', 3e8],
    ['1h2m3s4ms5us6ns', 3723004005006],
    ['.5s', 5e8],
  ])('duration %s', (t, ns) => expect(parseGoDuration(t)).toBe(ns));
  it.each(['', '1', 'x', '1d', '.s', '-'])('duration %j rejected', (t) => expect(() => parseGoDuration(t)).toThrow(/time: /));
});
