import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '@build-image/cache';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOciLayout } from '../src/exporter/index.js';
import { MediaType, canonicalJson, putJson, type Image, type ImageIndex } from '../src/image/index.js';
import { importOciLayoutBlobs, OciLayoutError, readOciLayout } from '../src/oci-layout/index.js';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { makeStore, makeTestImage, run } from './layer-helpers.js';

afterAll(cleanupTempDirs);

describe('OCI layout as an image source', () => {
  let tmp: string;
  let store: ContentStore;
  let amd64: Image;
  let arm64: Image;
  let armv7: Image;
  let layout: string;

  beforeAll(async () => {
    tmp = await makeTempDir('ocilayout-');
    store = makeStore(join(tmp, 'store'));
    amd64 = await makeTestImage(store, tmp, { 'arch.txt': 'amd64' });
    arm64 = await makeTestImage(store, tmp, { 'arch.txt': 'arm64' }, { architecture: 'arm64', variant: 'v8' });
    armv7 = await makeTestImage(store, tmp, { 'arch.txt': 'armv7' }, { architecture: 'arm', variant: 'v7' });
    layout = join(tmp, 'layout');
    await exportOciLayout(amd64, store, layout, { names: ['app:single'] });
    await exportOciLayout(arm64, store, layout, { names: ['app:arm'] });
    await exportOciLayout(armv7, store, layout, { names: ['app:armv7'] });
    // A multi-platform index (and one nested inside another), written into the layout by hand.
    const platformIndex: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { ...amd64.manifestDescriptor, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm64.manifestDescriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...armv7.manifestDescriptor, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      ],
    };
    const multi = await putJson(store, platformIndex, MediaType.OciIndex);
    const outer = await putJson(store, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [multi] }, MediaType.OciIndex);
    for (const d of [multi, outer]) await writeFile(join(layout, 'blobs/sha256', d.digest.slice(7)), await store.getBytes(d.digest));
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex;
    index.manifests.push({ ...multi, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
    index.manifests.push({ ...outer, annotations: { 'org.opencontainers.image.ref.name': 'nested' } });
    await writeFile(join(layout, 'index.json'), canonicalJson(index));
  });

  it('selects by tag and by digest', async () => {
    const byTag = await readOciLayout(layout, { tag: 'single' });
    expect(byTag.manifestDigest).toBe(amd64.manifestDescriptor.digest);
    expect(byTag.config).toEqual(amd64.config);
    expect(byTag.layers).toEqual(amd64.layers);
    const byDigest = await readOciLayout(layout, { digest: arm64.manifestDescriptor.digest });
    expect(byDigest.manifestDigest).toBe(arm64.manifestDescriptor.digest);
    expect(byDigest.config.architecture).toBe('arm64');
    // skopeo agrees on what the tag names
    expect(JSON.parse(await run('skopeo', ['inspect', `oci:${layout}:arm`])).Digest).toBe(arm64.manifestDescriptor.digest);
  });

  it('selects through a multi-platform index and a nested index by platform', async () => {
    const plat = async (tag: string, architecture: string, variant?: string): Promise<string> =>
      (await readOciLayout(layout, { tag, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } })).manifestDigest;
    expect(await plat('multi', 'arm64')).toBe(arm64.manifestDescriptor.digest);
    expect(await plat('multi', 'amd64')).toBe(amd64.manifestDescriptor.digest);
    expect(await plat('multi', 'arm', 'v7')).toBe(armv7.manifestDescriptor.digest);
    expect(await plat('nested', 'arm64', 'v8')).toBe(arm64.manifestDescriptor.digest);
    const err = await readOciLayout(layout, { tag: 'multi', platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect((err as OciLayoutError).code).toBe('E_OCI_LAYOUT_PLATFORM_NOT_FOUND');
    expect((err as Error).message).toContain('linux/s390x');
    expect((err as Error).message).toContain('linux/arm64/v8');
  });

  it('imports the selected image blobs into a store, verified', async () => {
    const target = makeStore(join(tmp, 'import-store'));
    const img = await readOciLayout(layout, { tag: 'multi', platform: { os: 'linux', architecture: 'arm64' } });
    await importOciLayoutBlobs(layout, img, target);
    for (const d of [img.manifestDescriptor, img.manifest.config, ...img.layers]) expect(await target.has(d.digest)).toBe(true);
    expect((await target.getBytes(img.manifest.config.digest)).equals(await store.getBytes(arm64.manifest.config.digest))).toBe(true);
  });

  it('names the dir and what is missing in its errors', async () => {
    const noLayout = await readOciLayout(join(tmp, 'nope')).catch((e: unknown) => e);
    expect((noLayout as OciLayoutError).code).toBe('E_OCI_LAYOUT_NOT_FOUND');
    expect((noLayout as Error).message).toContain(join(tmp, 'nope'));
    const noTag = await readOciLayout(layout, { tag: 'missing' }).catch((e: unknown) => e);
    expect((noTag as OciLayoutError).code).toBe('E_OCI_LAYOUT_REF_NOT_FOUND');
    expect((noTag as Error).message).toMatch(/tags present: .*single/);
    const ambiguous = await readOciLayout(layout).catch((e: unknown) => e);
    expect((ambiguous as OciLayoutError).code).toBe('E_OCI_LAYOUT_AMBIGUOUS');

    const broken = join(tmp, 'broken');
    await exportOciLayout(amd64, store, broken, { names: ['x:1'] });
    await rm(join(broken, 'blobs/sha256', amd64.layers[0]!.digest.slice(7)));
    const img = await readOciLayout(broken);
    const missing = await importOciLayoutBlobs(broken, img, makeStore(join(tmp, 'fresh'))).catch((e: unknown) => e);
    expect((missing as OciLayoutError).code).toBe('E_OCI_LAYOUT_BLOB_MISSING');
    expect((missing as Error).message).toContain(amd64.layers[0]!.digest);

    await writeFile(join(broken, 'blobs/sha256', amd64.manifest.config.digest.slice(7)), '{"tampered":true}');
    const tampered = await readOciLayout(broken).catch((e: unknown) => e);
    expect((tampered as OciLayoutError).code).toBe('E_OCI_LAYOUT_DIGEST_MISMATCH');

    await mkdir(join(tmp, 'evil/blobs'), { recursive: true });
    await writeFile(join(tmp, 'evil/index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: 'sha256:../../../etc/passwd', size: 1 }] }));
    const evil = await readOciLayout(join(tmp, 'evil')).catch((e: unknown) => e);
    expect((evil as OciLayoutError).code).toBe('E_OCI_LAYOUT_INVALID');
  });
});
