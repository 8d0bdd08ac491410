import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError } from '../src/errors.js';
import { createBuildGraph, listBaseImages, type BuildGraph, type BuildGraphOptions } from '../src/graph/index.js';

const g = (text: string, opts: BuildGraphOptions = {}) => createBuildGraph(text, { buildPlatform: 'linux/amd64', ...opts });
const step = (graph: BuildGraph, stage: number, i: number) => graph.stages.find((s) => s.index === stage)!.steps[i]!;
const argsOf = (graph: BuildGraph, stage: number, i: number) => Object.fromEntries(step(graph, stage, i).args);
const envOf = (graph: BuildGraph, stage: number, i: number) => Object.fromEntries(step(graph, stage, i).env);
const runEnv = (graph: BuildGraph, stage: number, i: number) => Object.fromEntries(step(graph, stage, i).runEnv ?? []);

function fails(text: string, code: string, line: number | undefined, msg: string, opts: BuildGraphOptions = {}) {
  let err: unknown;
  try {
    g(text, opts);
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(DockerfileSyntaxError);
  const e = err as DockerfileSyntaxError;
  expect(e.code).toBe(code);
  if (line === undefined) expect(e.location).toBeUndefined();
  else expect(e.location).toMatchObject({ line, column: 1 });
  expect(e.message).toContain(msg);
}

describe('ARG scoping', () => {
  it('global ARGs are visible in FROM, not in the stage until re-declared', () => {
    const graph = g('ARG V=1\nFROM alpine:$V\nRUN echo $V\nARG V\nRUN echo $V\n');
    expect(graph.stages[0]!.base).toMatchObject({ kind: 'image', ref: 'alpine:1' });
    expect(argsOf(graph, 0, 0)).toEqual({});
    expect(runEnv(graph, 0, 0)).not.toHaveProperty('V');
    expect(argsOf(graph, 0, 2)).toEqual({ V: '1' });
    expect(runEnv(graph, 0, 2)).toMatchObject({ V: '1' });
    expect(step(graph, 0, 2).usedArgs).toEqual(['V']);
    expect(graph.globalArgs).toEqual([['V', '1']]);
  });
  it('build args override global defaults and stage defaults; default values expand earlier args', () => {
    const text = 'ARG A=a\nARG B=${A}-b\nFROM scratch\nARG B\nARG C=$B-c\nARG D=d\nENV E=$C/$D\n';
    const graph = g(text, { buildArgs: { A: 'x', D: 'over' } });
    expect(graph.globalArgs).toEqual([['A', 'x'], ['B', 'x-b']]);
    expect(envOf(graph, 0, 3)).toMatchObject({ E: 'x-b-c/over' });
    expect(graph.unusedBuildArgs).toEqual([]);
  });
  it('a build arg for an ARG without default only applies where declared', () => {
    const graph = g('FROM scratch\nENV X=$FOO\nARG FOO\nENV Y=$FOO\n', { buildArgs: { FOO: 'bar', NOPE: '1' } });
    expect(envOf(graph, 0, 2)).toMatchObject({ X: '', Y: 'bar' });
    expect(graph.unusedBuildArgs).toEqual(['NOPE']);
  });
  it('predefined platform args: global automatically, in a stage only after ARG', () => {
    const graph = g('FROM --platform=$BUILDPLATFORM alpine AS b\nRUN echo $TARGETARCH\nARG TARGETARCH TARGETPLATFORM BUILDOS TARGETVARIANT\nRUN echo\n', { platform: 'linux/arm/v7' });
    expect(graph.stages[0]!.platform.string).toBe('linux/amd64');
    expect(argsOf(graph, 0, 0)).toEqual({});
    expect(argsOf(graph, 0, 2)).toEqual({ TARGETARCH: 'arm', TARGETPLATFORM: 'linux/arm/v7', BUILDOS: 'linux', TARGETVARIANT: 'v7' });
    expect(graph.platform.target).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7', string: 'linux/arm/v7' });
  });
  it('TARGETSTAGE is the target name', () => {
    const graph = g('FROM scratch AS one\nARG TARGETSTAGE\nENV T=$TARGETSTAGE\nFROM scratch AS two\n', { target: 'one' });
    expect(envOf(graph, 0, 1)).toMatchObject({ T: 'one' });
  });
  it('ARGs declared in a base stage stay in scope in a stage built FROM it', () => {
    const graph = g('FROM scratch AS a\nARG X=1\nFROM a\nRUN echo $X\nENV Y=$X\n');
    expect(argsOf(graph, 1, 0)).toEqual({ X: '1' });
    expect(envOf(graph, 1, 1)).toMatchObject({ Y: '1' });
  });
  it('ENV set after an ARG of the same name wins in RUN and in history args', () => {
    const graph = g('FROM scratch\nARG V=arg\nENV V=env\nRUN echo $V\n');
    expect(runEnv(graph, 0, 2).V).toBe('env');
    expect(argsOf(graph, 0, 2)).toEqual({ V: 'env' });
  });
  it('proxy build args reach RUN without declaration and never count as unused', () => {
    const graph = g('FROM scratch\nRUN true\n', { buildArgs: { http_proxy: 'http://p:3128', HTTPS_PROXY: 'x' } });
    expect(step(graph, 0, 0).proxyEnv).toEqual([['HTTPS_PROXY', 'x'], ['http_proxy', 'http://p:3128']]);
    expect(step(graph, 0, 0).args).toEqual([]);
    expect(graph.unusedBuildArgs).toEqual([]);
  });
});

describe('ENV flow and expansion per instruction', () => {
  it('base image ENV from imageConfigs, PATH default otherwise', () => {
    const graph = g('FROM node:20\nENV P=$PATH:/x N=$NODE_VERSION\n', { imageConfigs: { 'node:20': { env: ['PATH=/bin', 'NODE_VERSION=20.1'], workingDir: 'app', user: 'node' } } });
    expect(step(graph, 0, 0).env).toEqual([['PATH', '/bin'], ['NODE_VERSION', '20.1'], ['P', '/bin:/x'], ['N', '20.1']]);
    expect(step(graph, 0, 0)).toMatchObject({ workdir: '/app', user: 'node' });
    const scratch = g('FROM scratch\nENV A=1\n');
    expect(step(scratch, 0, 0).env[0]).toEqual(['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });
  it('all words of one ENV see the env before it', () => {
    expect(envOf(g('FROM scratch\nENV A=1\nENV A=2 B=$A\n'), 0, 1)).toMatchObject({ A: '2', B: '1' });
  });
  it('expands COPY/ADD/WORKDIR/USER/VOLUME/STOPSIGNAL/LABEL/EXPOSE but not RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK', () => {
    const text = [
      'FROM scratch',
      'ENV D=/dst U=app P=8080 S=SIGTERM F=a.txt',
      'COPY --chown=$U --chmod=0755 $F ${D}/',
      'ADD --checksum=sha256:$D https://x/$F /$D',
      'WORKDIR $D/w',
      'USER $U',
      'VOLUME $D /v',
      'STOPSIGNAL $S',
      'LABEL k=$U',
      'EXPOSE $P 53/udp',
      'RUN echo $D',
      'CMD echo $D',
      'ENTRYPOINT ["$D"]',
      'HEALTHCHECK CMD echo $D',
      '',
    ].join('\n');
    const graph = g(text);
    const ins = (i: number) => step(graph, 0, i).instruction as unknown as Record<string, unknown>;
    expect(ins(1)).toMatchObject({ chown: 'app', chmod: '0755', sources: ['a.txt'], dest: '/dst/' });
    expect(step(graph, 0, 1).chmod).toEqual({ kind: 'octal', mode: 0o755 });
    expect(ins(2)).toMatchObject({ checksum: 'sha256:/dst', sources: ['https://x/a.txt'], dest: '//dst' });
    expect(ins(3)).toMatchObject({ path: '/dst/w' });
    expect(step(graph, 0, 3).workdir).toBe('/dst/w');
    expect(ins(4)).toMatchObject({ user: 'app' });
    expect(ins(5)).toMatchObject({ volumes: ['/dst', '/v'] });
    expect(ins(6)).toMatchObject({ signal: 'SIGTERM' });
    expect(ins(7)).toMatchObject({ labels: [{ key: 'k', value: 'app' }] });
    // BuildKit sorts the raw words ('$P' < '53/udp') before expanding them.
    expect(step(graph, 0, 8).exposedPorts).toEqual(['8080/tcp', '53/udp']);
    expect(ins(9)).toMatchObject({ command: { script: 'echo $D' } });
    expect(ins(10)).toMatchObject({ command: { script: 'echo $D' } });
    expect(ins(11)).toMatchObject({ command: { args: ['$D'] } });
    expect(ins(12)).toMatchObject({ health: { test: ['CMD-SHELL', 'echo $D'] } });
  });
  it('COPY heredoc bodies expand unless quoted; RUN heredocs are left to the shell', () => {
    const graph = g('FROM scratch\nENV X=1\nCOPY <<A <<"B" /d/\n$X\nA\n$X\nB\nRUN <<EOF\necho $X\nEOF\n');
    expect(step(graph, 0, 1).instruction).toMatchObject({ heredocSources: [{ path: 'A', data: '1\n' }, { path: 'B', data: '$X\n' }] });
    expect(step(graph, 0, 2).instruction).toMatchObject({ heredocs: [{ content: 'echo $X\n' }] });
  });
  it('RUN mounts expand their values; relative targets join the workdir', () => {
    const graph = g('FROM scratch\nARG C=/cache\nWORKDIR /w\nRUN --mount=type=cache,target=$C,id=x --mount=type=bind,target=rel,rw true\n');
    const mounts = step(graph, 0, 2).mounts!;
    expect(mounts[0]).toMatchObject({ type: 'cache', target: '/cache', id: 'x', readOnly: false, sourceRef: { kind: 'scratch' } });
    expect(mounts[1]).toMatchObject({ type: 'bind', target: '/w/rel', readOnly: false, sourceRef: { kind: 'context' } });
  });
  it('SHELL changes the shell later steps use', () => {
    const graph = g('FROM scratch\nSHELL ["/bin/bash", "-c"]\nRUN x\n');
    expect(step(graph, 0, 1).shell).toEqual(['/bin/bash', '-c']);
  });
});

describe('edges and pruning', () => {
  const multi = 'FROM alpine AS base\nFROM base AS build\nRUN make\nFROM golang AS unused\nFROM scratch AS final\nCOPY --from=build /out /out\nCOPY --from=busybox:1.36 /bin/sh /sh\nRUN --mount=from=base,target=/b --mount=type=bind,from=debian,target=/d true\n';
  it('records stage and image dependencies and prunes stages the target does not need', () => {
    const graph = g(multi);
    expect(graph.stages.map((s) => s.index)).toEqual([0, 1, 3]);
    expect(graph.target).toBe(3);
    const final = graph.stages.find((s) => s.index === 3)!;
    expect(final.dependsOn).toEqual([0, 1]);
    expect(final.imageDependencies).toEqual(['busybox:1.36', 'debian']);
    expect(final.steps[0]!.source).toEqual({ kind: 'stage', index: 1 });
    expect(final.steps[1]!.source).toEqual({ kind: 'image', ref: 'busybox:1.36', normalizedRef: 'docker.io/library/busybox:1.36' });
    expect(final.steps[2]!.mounts!.map((m) => m.sourceRef.kind)).toEqual(['stage', 'image']);
    expect(graph.stages[1]!.base).toEqual({ kind: 'stage', index: 0 });
  });
  it('--target picks a stage (case-insensitive) and prunes the rest', () => {
    const graph = g(multi, { target: 'BUILD' });
    expect(graph.stages.map((s) => s.index)).toEqual([0, 1]);
    expect(graph.target).toBe(1);
  });
  it('COPY --from by index', () => {
    expect(g('FROM alpine\nFROM scratch\nCOPY --from=0 /a /b\n').stages[1]!.dependsOn).toEqual([0]);
  });
  it('stage names are looked up by the exact expanded FROM text (BuildKit)', () => {
    fails('FROM alpine AS Build\nFROM Build\n', 'E_REFERENCE', 2, 'repository name (library/Build) must be lowercase');
  });
  it('FROM a later stage name is an image, not the stage', () => {
    const graph = g('FROM later AS first\nFROM alpine AS later\n', { target: 'first' });
    expect(graph.stages[0]!.base).toMatchObject({ kind: 'image', ref: 'later' });
  });
  it('ONBUILD triggers from image configs and from base stages run first', () => {
    const graph = g('FROM alpine AS a\nONBUILD RUN echo from-a\nFROM a\nRUN own\nFROM onbuild-img\n', {
      target: undefined,
      imageConfigs: { 'onbuild-img': { onBuild: ['COPY --from=a /x /y'] } },
    });
    const last = graph.stages.find((s) => s.index === 2)!;
    expect(last.steps[0]).toMatchObject({ onbuild: true, kind: 'COPY', source: { kind: 'stage', index: 0 }, location: { line: 5 } });
    expect(last.dependsOn).toEqual([0]);
    const g2 = g('FROM alpine AS a\nONBUILD RUN echo from-a\nFROM a\nRUN own\n');
    expect(g2.stages[1]!.steps.map((s) => [s.onbuild, s.text])).toEqual([[true, 'RUN echo from-a'], [false, 'RUN own']]);
  });
  it('listBaseImages expands with global ARGs only', () => {
    expect(listBaseImages('ARG V=3\nFROM --platform=linux/arm64 alpine:$V AS a\nFROM a\nFROM scratch\nFROM debian\n')).toEqual([
      { ref: 'alpine:3', normalizedRef: 'docker.io/library/alpine:3', platform: 'linux/arm64', stage: 0 },
      { ref: 'debian', normalizedRef: 'docker.io/library/debian:latest', stage: 3 },
    ]);
  });
});

describe('errors with codes and locations', () => {
  it.each([
    ['FROM alpine\nCOPY --from=5 /a /b\n', 'E_UNKNOWN_STAGE', 2, 'invalid stage index 5'],
    ['FROM alpine AS a\nCOPY --from=a /a /b\n', 'E_CYCLE', 2, 'circular dependency detected on stage: a'],
    ['FROM alpine\nCOPY --from=0 /a /b\n', 'E_CYCLE', 2, 'circular dependency detected on stage: stage-0'],
    ['FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\nCOPY --from=a /x /y\n', 'E_CYCLE', 4, 'circular dependency'],
    ['FROM alpine AS a\nFROM alpine AS A\n', 'E_DUPLICATE_STAGE', 2, 'duplicate stage name "a"'],
    ['RUN true\nFROM alpine\n', 'E_NO_FROM', 1, 'no build stage in current context'],
    ['ARG A=1\n', 'E_NO_FROM', undefined, 'dockerfile contains no stages to build'],
    ['ARG X\nFROM $X\n', 'E_ARGUMENTS', 2, 'base name ($X) should not be blank'],
    ['FROM --platform=$NOPE alpine\n', 'E_PLATFORM', 1, 'empty platform value from expression $NOPE'],
    ['FROM --platform=linux/a/b/c alpine\n', 'E_PLATFORM', 1, 'invalid platform'],
    ['FROM alpine\nCOPY --from=$X /a /b\n', 'E_FLAG', 2, 'variable expansion is not supported for --from'],
    ['FROM alpine\nENV A=${B:?required}\n', 'E_EXPANSION', 2, 'required'],
    ['ARG V=${X:?needX}\nFROM alpine\n', 'E_EXPANSION', 1, 'needX'],
    ['FROM alpine\nCOPY --chmod=999 a /b\n', 'E_FLAG', 2, 'invalid chmod parameter'],
    ['FROM alpine\nRUN --mount=type=bogus true\n', 'E_FLAG', 2, 'unsupported mount type "bogus"'],
    ['FROM alpine\nRUN --mount=type=cache,target=/ true\n', 'E_FLAG', 2, 'invalid mount target "/"'],
    ['FROM alpine\nEXPOSE 80/xyz\n', 'E_FLAG', 2, 'invalid proto: xyz'],
    ['FROM alpine\nSTOPSIGNAL SIGNOPE\n', 'E_FLAG', 2, 'invalid signal: SIGNOPE'],
    ['FROM alpine\nADD --checksum=sha256:x a b /c\n', 'E_FLAG', 2, "checksum can't be specified for multiple sources"],
    ['FROM alpine\nBOGUS x\n', 'E_UNKNOWN_INSTRUCTION', 2, 'unknown instruction: BOGUS'],
    ['FROM Alpine\n', 'E_REFERENCE', 1, 'must be lowercase'],
  ])('%j → %s', (text, code, line, msg) => fails(text, code, line, msg));
  it('a stage reading a later stage', () => {
    fails('FROM alpine AS a\nCOPY --from=1 /a /b\nFROM alpine\n', 'E_UNKNOWN_STAGE', 2, 'cannot copy from stage "1", it needs to be defined before current stage "a"', { target: 'a' });
    fails('FROM alpine AS a\nRUN --mount=from=later,target=/x true\nFROM alpine AS later\n', 'E_UNKNOWN_STAGE', 2, 'cannot mount from stage "later"', { target: 'a' });
  });
  it('--target naming no stage', () => fails('FROM alpine AS build\n', 'E_TARGET', undefined, 'target stage "biuld" could not be found (did you mean build?)', { target: 'biuld' }));
  it('invalid expansions in pruned stages are not errors (BuildKit only dispatches what the target needs)', () => {
    expect(() => g('FROM alpine AS a\nENV X=${Y:?no}\nFROM alpine AS b\n')).not.toThrow();
  });
  it('is JSON-serializable and deterministic', () => {
    const text = 'ARG V=1\nFROM alpine:$V AS a\nRUN --mount=type=cache,target=/c x\nFROM a\nCOPY --from=a / /\n';
    const a = JSON.stringify(g(text));
    expect(JSON.stringify(JSON.parse(a))).toBe(a);
    expect(JSON.stringify(g(text))).toBe(a);
  });
});
