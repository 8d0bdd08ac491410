/**
 * Stages built on the same base image stay independent: a stage's layers never appear in another
 * stage's image (regression: the resolved base image's layer list was shared and appended to),
 * and a cached rebuild gives the same image however the stages' runs interleave.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { build } from '@build-image/builder';
import { makeBusyboxImage } from './helpers/busybox-image.js';

let work: string;
let layout: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'bi-e2e-ms-'));
  layout = path.join(work, 'busybox');
  const base = await makeBusyboxImage({ layoutDir: layout });
  expect(base.config.rootfs.diff_ids).toHaveLength(1);
  await mkdir(path.join(work, 'ctx'));
  await writeFile(
    path.join(work, 'ctx/Dockerfile'),
    ['FROM busybox AS a', 'RUN echo a > /a.txt', 'FROM busybox AS b', 'RUN echo b > /b.txt', 'FROM busybox', 'COPY --from=a /a.txt /out/', 'COPY --from=b /b.txt /out/', ''].join('\n'),
  );
});
afterAll(() => rm(work, { recursive: true, force: true }));

it('the final image has the base layer and its own two COPY layers only, and a rebuild is identical', async () => {
  const opts = { context: path.join(work, 'ctx'), cacheDir: path.join(work, 'cache'), buildContexts: [{ name: 'busybox', kind: 'oci-layout' as const, dir: layout, tag: 'latest' }] };
  const first = await build(opts);
  expect(first.config.rootfs.diff_ids).toHaveLength(3);
  expect(first.config.history?.filter((h) => !h.empty_layer)).toHaveLength(3);
  const again = await build(opts);
  expect(again.cache).toMatchObject({ run: 0, cached: 4 });
  expect(again.digest).toBe(first.digest);
});
