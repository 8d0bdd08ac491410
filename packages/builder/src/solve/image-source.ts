/**
 * Where base images (FROM, COPY --from=<image>, RUN --mount from=<image>) come from: a named
 * build context (`--build-context NAME=oci-layout://…|docker-image://…|DIR`) or a registry.
 * Every resolved image has its blobs in the store, so the solver and the exporters only ever
 * read the store.
 */
import path from 'node:path';
import type { ContentStore, Digest, LayerDescriptor } from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import type { ResolvedPlatform } from '@build-image/parser';
import type { ImageConfig } from '../image/index.js';
import { importOciLayoutBlobs, readOciLayout } from '../oci-layout/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { BuildContextSpec } from '../options/specs.js';

/** A base image ready to build on: config, layers (blobs in the store) and what identifies it. */
export interface BaseImage {
  config: ImageConfig;
  layers: LayerDescriptor[];
  /** Manifest digest: what the cache key of everything built on it starts from. */
  manifestDigest: Digest;
  /** For messages: where it came from. */
  source: string;
}

export class ImageSources {
  private readonly cache = new Map<string, Promise<BaseImage>>();

  constructor(
    private readonly store: ContentStore,
    private readonly registry: RegistryClient,
    private readonly named: ReadonlyMap<string, BuildContextSpec>,
  ) {}

  /**
   * The named context that replaces `ref`, looked up like BuildKit's dockerui: by the name as
   * written, then by its normalized form (`busybox` and `docker.io/library/busybox:latest`).
   */
  namedContext(ref: string, normalizedRef?: string): BuildContextSpec | undefined {
    const candidates = [ref, normalizedRef, normalizedRef?.replace(/^docker\.io\/library\//, ''), normalizedRef?.replace(/^docker\.io\/library\/(.*):latest$/, '$1')];
    for (const c of candidates) {
      if (c !== undefined && this.named.has(c)) return this.named.get(c);
    }
    return undefined;
  }

  /** Resolves (once per ref and platform) and makes every blob of the image present in the store. */
  resolve(ref: string, normalizedRef: string, platform: ResolvedPlatform): Promise<BaseImage> {
    const key = `${normalizedRef}|${platform.string}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.load(ref, normalizedRef, platform);
      this.cache.set(key, p);
    }
    return p;
  }

  private async load(ref: string, normalizedRef: string, platform: ResolvedPlatform): Promise<BaseImage> {
    const named = this.namedContext(ref, normalizedRef);
    const wanted = { os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) };
    if (named?.kind === 'oci-layout') {
      const dir = path.resolve(named.dir);
      const img = await readOciLayout(dir, { ...(named.tag ? { tag: named.tag } : {}), ...(named.digest ? { digest: named.digest } : {}), platform: wanted });
      await importOciLayoutBlobs(dir, img, this.store);
      return { config: img.config, layers: withDiffIds(img.config, img.layers), manifestDigest: img.manifestDigest, source: `oci-layout://${dir}` };
    }
    if (named?.kind === 'local') {
      throw new BuildError('E_NAMED_CONTEXT', `build context "${ref}" is a directory; use it with COPY --from=${ref}, not FROM`, { data: { ref } });
    }
    const target = named?.kind === 'image' ? named.ref : normalizedRef;
    const img = await this.registry.pullImage(target, wanted, this.store);
    return { config: img.config as ImageConfig, layers: withDiffIds(img.config as ImageConfig, img.layers), manifestDigest: img.manifestDigest, source: target };
  }
}

function withDiffIds(config: ImageConfig, layers: ReadonlyArray<{ mediaType: string; digest: Digest; size: number }>): LayerDescriptor[] {
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new BuildError('E_IMAGE_INVALID', `image config lists ${diffIds.length} diff_ids but the manifest has ${layers.length} layers`, { data: {} });
  }
  return layers.map((l, i) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: diffIds[i]! }));
}
