/**
 * RUN and the build cache, as BuildKit keys it: a rebuild reuses every RUN and gives the same
 * image; what a RUN can see through its mounts decides what invalidates it — a bind-mounted
 * file's content does, a secret's value and a cache mount's content do not; a build arg only
 * when the stage declares it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eBuild, SNAPSHOTTERS, type E2EBuild, type E2EBuildOptions } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir, writeTree } from './helpers/tmp.js';

afterAll(cleanupTempDirs);

const DOCKERFILE = `FROM busybox
ARG USED
RUN echo "used=$USED" > /used
RUN --mount=type=bind,source=in,target=/in cat /in/input.txt > /copied
RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-len
RUN --mount=type=cache,target=/c sh -c 'date +%s%N > /c/stamp; echo cached > /from-cache-step'
RUN echo last > /last
`;

/** Names of the RUN steps that ran (not cached) in a build. */
function ran(b: E2EBuild): string[] {
  return b.result.cache.misses.map((m) => m.step);
}

describe.each(SNAPSHOTTERS)('RUN cache keys (%s snapshotter)', (snapshotter) => {
  let ctx: string;
  let secretDir: string;
  let common: E2EBuildOptions;
  let first: E2EBuild;

  beforeAll(async () => {
    ctx = await makeTempDir('e2e-ctx-');
    secretDir = await makeTempDir('e2e-secret-');
    await writeTree(ctx, { Dockerfile: DOCKERFILE, 'in/input.txt': 'v1\n' });
    await writeTree(secretDir, { tok: 'secret-one' });
    common = {
      dockerfile: DOCKERFILE,
      contextDir: ctx,
      snapshotter,
      cacheDir: await makeTempDir('e2e-cache-'),
      secrets: { tok: { file: path.join(secretDir, 'tok') } },
      buildArgs: { USED: 'a' },
    };
    first = await e2eBuild(common);
  });

  it('runs every step the first time', () => {
    expect(first.result.cache.run).toBeGreaterThanOrEqual(5);
  });

  it('reuses every RUN on a rebuild and produces the same image', async () => {
    const again = await e2eBuild(common);
    expect(ran(again)).toEqual([]);
    expect(again.result.digest).toBe(first.result.digest);
  });

  it('ignores a secret’s value and a cache mount’s content, and an undeclared build arg', async () => {
    await writeFile(path.join(secretDir, 'tok'), 'another-secret-value');
    const again = await e2eBuild({ ...common, buildArgs: { USED: 'a', OTHER: 'x' } });
    expect(ran(again)).toEqual([]);
    await writeFile(path.join(secretDir, 'tok'), 'secret-one');
  });

  it('reruns from a changed bind-mounted file, and from a changed declared arg', async () => {
    await writeFile(path.join(ctx, 'in/input.txt'), 'v2\n');
    const bind = await e2eBuild(common);
    expect(ran(bind)).toEqual(['RUN --mount=type=bind,source=in,target=/in cat /in/input.txt > /copied', expect.stringMatching(/^RUN --mount=type=secret/), expect.stringMatching(/^RUN --mount=type=cache/), 'RUN echo last > /last']);
    await writeFile(path.join(ctx, 'in/input.txt'), 'v1\n');
    const arg = await e2eBuild({ ...common, buildArgs: { USED: 'b' } });
    expect(ran(arg)[0]).toBe('RUN echo "used=$USED" > /used');
    expect(ran(arg)).toHaveLength(5);
  });
});
