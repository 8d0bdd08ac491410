import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError } from '../src/errors.js';
import { createBuildGraph } from '../src/graph/index.js';

const LINES = [
  'FROM alpine', 'FROM alpine AS a', 'FROM a', 'FROM scratch AS b', 'FROM --platform=$BUILDPLATFORM golang:${GO:-1.22} AS c', 'ARG GO', 'ARG V=1',
  'ENV A=$V B=${A:-x}', 'RUN echo $A', 'RUN --mount=type=cache,target=/c,id=$V true', 'RUN --mount=from=a,target=/x ls', 'COPY --from=a /x /y',
  'COPY --from=0 . .', 'COPY --from=9 . .', 'COPY --chmod=u+x --chown=$V a b', 'ADD --checksum=sha256:1 https://x/y /z', 'WORKDIR ${V}/w',
  'USER $V', 'EXPOSE $V 80/udp', 'VOLUME ["/v"]', 'STOPSIGNAL SIGTERM', 'ONBUILD RUN x', 'HEALTHCHECK --interval=5s CMD true', 'SHELL ["sh","-c"]',
  'LABEL a=b', 'CMD ["x"]', 'ENTRYPOINT x', 'MAINTAINER me', 'COPY <<EOF /f\nhello $V\nEOF', 'RUN <<EOF\necho\nEOF',
];
const JUNK = ['$', '${', '}', '"', "'", '\\', '--', '=', ',', '\t', ' ', '<<', '[', ']', 'from', 'AS', '\n', '#'];

const dockerfile = fc.array(
  fc.oneof(
    fc.constantFrom(...LINES),
    fc.tuple(fc.constantFrom(...LINES), fc.nat(40), fc.constantFrom(...JUNK)).map(([l, i, j]) => l.slice(0, i % (l.length + 1)) + j + l.slice(i % (l.length + 1))),
    fc.string({ maxLength: 30 }),
  ),
  { maxLength: 12 },
).map((lines) => lines.join('\n'));

describe('createBuildGraph on arbitrary Dockerfiles', () => {
  it('returns a graph or throws DockerfileSyntaxError, never anything else', () => {
    const started = Date.now();
    fc.assert(
      fc.property(dockerfile, fc.option(fc.constantFrom('a', 'b', 'c', 'zzz'), { nil: undefined }), (text, target) => {
        try {
          const g = createBuildGraph(text, { target, buildArgs: { V: '2' }, buildPlatform: 'linux/amd64' });
          expect(g.stages.length).toBeGreaterThan(0);
        } catch (e) {
          if (!(e instanceof DockerfileSyntaxError)) throw e;
        }
      }),
      { numRuns: 1500, seed: 42 },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
