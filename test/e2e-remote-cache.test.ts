/**
 * Scale-out through a shared cache (issue 6): builder A exports its cache, builder B starts with
 * an empty local cache, imports it, reuses every step — including the contents of a
 * `RUN --mount=type=cache` directory — and produces the same image digest.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, parseCacheExportSpec, parseCacheImportSpec, type BuildOptions } from '@build-image/builder';
import { makeBusyboxImage } from './helpers/busybox-image.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';

let work: string;
let layout: string;
let registry: TestRegistry;

const DOCKERFILE = `FROM busybox
ARG GREETING=hello
COPY greeting.txt /app/
RUN --mount=type=cache,target=/var/cache/app sh -c 'ls /var/cache/app > /app/seen.txt; echo $GREETING > /var/cache/app/from-$GREETING'
RUN echo built > /app/built.txt
CMD ["cat", "/app/greeting.txt"]
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bi-e2e-rcache-'));
  layout = path.join(work, 'busybox');
  await makeBusyboxImage({ layoutDir: layout });
  await mkdir(path.join(work, 'ctx'));
  await writeFile(path.join(work, 'ctx/Dockerfile'), DOCKERFILE);
  await writeFile(path.join(work, 'ctx/greeting.txt'), 'hi\n');
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

function options(cacheDir: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    context: path.join(work, 'ctx'),
    cacheDir,
    buildContexts: [{ name: 'busybox', kind: 'oci-layout', dir: layout, tag: 'latest' }],
    sourceDateEpoch: 1700000000,
    ...extra,
  };
}

describe('remote cache end to end', () => {
  for (const kind of ['local', 'registry'] as const) {
    it(`builder B with an empty cache and --cache-from ${kind} reuses every step and gets the same digest`, async () => {
      const dest = kind === 'local' ? `type=local,dest=${path.join(work, 'shared-cache')},mode=max` : `type=registry,ref=${registry.host}/cache/app:buildcache,mode=max`;
      const src = kind === 'local' ? `type=local,src=${path.join(work, 'shared-cache')}` : `type=registry,ref=${registry.host}/cache/app:buildcache`;
      const a = await build(options(path.join(work, `cache-a-${kind}`), { cacheTo: [parseCacheExportSpec(dest)] }));
      expect(a.cache.run).toBe(3);
      expect(a.warnings).toEqual([]);

      const b = await build(options(path.join(work, `cache-b-${kind}`), { cacheFrom: [parseCacheImportSpec(src)] }));
      expect(b.cache).toMatchObject({ run: 0, cached: 3 });
      expect(b.digest).toBe(a.digest);

      // The cache mount's contents travelled too: a no-cache RUN in B sees A's file.
      const c = await build(
        options(path.join(work, `cache-c-${kind}`), {
          cacheFrom: [parseCacheImportSpec(src)],
          dockerfile: DOCKERFILE.replace("sh -c '", "sh -c ': rebuilt; "),
          outputs: [{ type: 'local', dest: path.join(work, `rootfs-${kind}`) }],
        }),
      );
      expect(c.cache.run).toBeGreaterThan(0);
      expect(await readFile(path.join(work, `rootfs-${kind}/app/seen.txt`), 'utf8')).toBe('from-hello\n');
    });
  }

  it('a missing cache is a warning, not a failure', async () => {
    const r = await build(options(path.join(work, 'cache-missing'), { cacheFrom: [parseCacheImportSpec(`type=local,src=${path.join(work, 'nowhere')}`)] }));
    expect(r.cache.run).toBe(3);
    expect(r.warnings.join('\n')).toMatch(/nowhere/);
  });
});
