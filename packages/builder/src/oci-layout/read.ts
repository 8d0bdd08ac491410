/**
 * An OCI image layout directory as an image source (`--build-context name=oci-layout://DIR[:TAG|@DIGEST]`):
 * select a manifest through index.json (nested indexes too) by ref name, digest and platform, and
 * copy its blobs, verified, into the content store.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore, Descriptor, Digest } from '@build-image/cache';
import { digestHex, isDigest, sha256Digest } from '../image/json.js';
import { Annotation, isIndexMediaType, isManifestMediaType } from '../image/mediaTypes.js';
import type { Image, ImageConfig, ImageIndex, ImageManifest, Platform } from '../image/types.js';
import { OciLayoutError } from './errors.js';
import { formatPlatform, hostPlatform, platformRank } from '../platform.js';

/** Which image of a layout to read. */
export interface ReadOciLayoutOptions {
  /** A ref name (`org.opencontainers.image.ref.name`, e.g. `latest`) or full image name (`io.containerd.image.name`). */
  tag?: string;
  /** A manifest or index digest. */
  digest?: Digest | string;
  /** Platform to select from an index. Default: this host's. */
  platform?: Platform;
}

/** An image read from a layout. */
export interface OciLayoutImage extends Image {
  manifestDigest: Digest;
  /** The descriptor index.json names (an index for multi-platform images, else the manifest). */
  rootDescriptor: Descriptor;
}

/** Path of a blob in a layout; the digest is validated, so it can never escape `blobs/`. */
export function layoutBlobPath(dir: string, digest: string): string {
  if (!isDigest(digest)) {
    throw new OciLayoutError('E_OCI_LAYOUT_INVALID', `OCI layout ${dir} references an invalid digest "${digest}" (only sha256 digests are supported).`, { data: { dir, digest } });
  }
  return join(dir, 'blobs', 'sha256', digestHex(digest));
}

async function readBlobJson<T>(dir: string, desc: Descriptor, what: string): Promise<T> {
  const path = layoutBlobPath(dir, desc.digest);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new OciLayoutError('E_OCI_LAYOUT_BLOB_MISSING', `OCI layout ${dir} is missing the ${what} blob ${desc.digest} (expected at blobs/sha256/${digestHex(desc.digest)}).`, {
      data: { dir, digest: desc.digest, what },
    });
  }
  if (sha256Digest(bytes) !== desc.digest || (desc.size !== undefined && bytes.length !== desc.size)) {
    throw new OciLayoutError('E_OCI_LAYOUT_DIGEST_MISMATCH', `OCI layout ${dir}: the ${what} blob ${desc.digest} does not match its digest or size; the layout is corrupt.`, {
      data: { dir, digest: desc.digest, what },
    });
  }
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new OciLayoutError('E_OCI_LAYOUT_INVALID', `OCI layout ${dir}: the ${what} blob ${desc.digest} is not valid JSON.`, { cause: err, data: { dir, digest: desc.digest } });
  }
}

function refNames(d: Descriptor): string[] {
  return [d.annotations?.[Annotation.RefName], d.annotations?.[Annotation.ContainerdImageName]].filter((v): v is string => v !== undefined);
}

/** All descriptors reachable from `index` (depth first), for digest lookups. */
async function findByDigest(dir: string, index: ImageIndex, digest: string, depth = 0): Promise<Descriptor | undefined> {
  for (const d of index.manifests ?? []) {
    if (d.digest === digest) return d;
  }
  if (depth > 8) return undefined;
  for (const d of index.manifests ?? []) {
    if (isIndexMediaType(d.mediaType)) {
      const found = await findByDigest(dir, await readBlobJson<ImageIndex>(dir, d, 'index'), digest, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Reads one image from an OCI layout: by tag (ref name), by digest, or the only entry; then
 * through indexes by platform.
 *
 * @example
 * const img = await readOciLayout('/layouts/base', { tag: 'latest', platform: { os: 'linux', architecture: 'amd64' } })
 * await importOciLayoutBlobs('/layouts/base', img, store)
 */
export async function readOciLayout(dir: string, options: ReadOciLayoutOptions = {}): Promise<OciLayoutImage> {
  let index: ImageIndex;
  try {
    index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new OciLayoutError(
      missing ? 'E_OCI_LAYOUT_NOT_FOUND' : 'E_OCI_LAYOUT_INVALID',
      missing ? `${dir} is not an OCI image layout: it has no index.json.` : `${dir}/index.json is not valid JSON: ${(err as Error).message}`,
      { cause: err, data: { dir } },
    );
  }
  if (!Array.isArray(index.manifests)) {
    throw new OciLayoutError('E_OCI_LAYOUT_INVALID', `${dir}/index.json has no "manifests" array.`, { data: { dir } });
  }
  const platform = options.platform ?? hostPlatform();
  let root: Descriptor | undefined;
  if (options.digest !== undefined) {
    root = await findByDigest(dir, index, options.digest);
    if (!root) {
      // A digest may also name a blob the index does not list (e.g. one platform's manifest).
      const exists = await stat(layoutBlobPath(dir, options.digest)).catch(() => undefined);
      if (exists) {
        const doc = JSON.parse(await readFile(layoutBlobPath(dir, options.digest), 'utf8')) as { mediaType?: string; manifests?: unknown };
        root = { mediaType: doc.mediaType ?? (doc.manifests ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json'), digest: options.digest as Digest, size: exists.size };
      }
    }
    if (root && options.tag !== undefined && !refNames(root).includes(options.tag) && index.manifests.some((d) => refNames(d).includes(options.tag!))) {
      root = undefined;
    }
    if (!root) {
      throw new OciLayoutError('E_OCI_LAYOUT_REF_NOT_FOUND', `OCI layout ${dir} has no manifest with digest ${options.digest}.`, { data: { dir, digest: options.digest } });
    }
  } else if (options.tag !== undefined) {
    const matches = index.manifests.filter((d) => refNames(d).includes(options.tag!));
    if (matches.length === 0) {
      const available = [...new Set(index.manifests.flatMap((d) => (d.annotations?.[Annotation.RefName] ? [d.annotations[Annotation.RefName]] : [])))];
      throw new OciLayoutError('E_OCI_LAYOUT_REF_NOT_FOUND', `OCI layout ${dir} has no image tagged "${options.tag}" (tags present: ${available.length ? available.join(', ') : 'none'}).`, {
        data: { dir, tag: options.tag, available },
      });
    }
    root = matches[0]!;
  } else {
    if (index.manifests.length !== 1) {
      throw new OciLayoutError('E_OCI_LAYOUT_AMBIGUOUS', `OCI layout ${dir} holds ${index.manifests.length} entries; name one with :TAG or @DIGEST.`, { data: { dir, count: index.manifests.length } });
    }
    root = index.manifests[0]!;
  }

  let current = root;
  for (let depth = 0; isIndexMediaType(current.mediaType) || !isManifestMediaType(current.mediaType); depth++) {
    if (isManifestMediaType(current.mediaType)) break;
    const doc = await readBlobJson<ImageIndex & ImageManifest>(dir, current, 'index');
    if (!Array.isArray(doc.manifests)) {
      if (doc.config && Array.isArray(doc.layers)) {
        current = { ...current, mediaType: doc.mediaType ?? 'application/vnd.oci.image.manifest.v1+json' };
        break;
      }
      throw new OciLayoutError('E_OCI_LAYOUT_INVALID', `OCI layout ${dir}: blob ${current.digest} is neither an image index nor a manifest.`, { data: { dir, digest: current.digest } });
    }
    const candidates = doc.manifests.filter((d) => isIndexMediaType(d.mediaType) || platformRank(platform, d.platform) !== undefined);
    // Attestation manifests (BuildKit's `unknown/unknown`) never match a real platform.
    const next = candidates.find((d) => !isIndexMediaType(d.mediaType)) ?? candidates[0];
    if (!next || depth > 8) {
      throw new OciLayoutError(
        'E_OCI_LAYOUT_PLATFORM_NOT_FOUND',
        `OCI layout ${dir}: the index ${current.digest} has no manifest for ${formatPlatform(platform)} (it has ${doc.manifests.map((d) => formatPlatform(d.platform)).join(', ') || 'none'}).`,
        { data: { dir, digest: current.digest, platform: formatPlatform(platform) } },
      );
    }
    current = next;
  }
  const manifest = await readBlobJson<ImageManifest>(dir, current, 'manifest');
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new OciLayoutError('E_OCI_LAYOUT_INVALID', `OCI layout ${dir}: manifest ${current.digest} has no config or layers.`, { data: { dir, digest: current.digest } });
  }
  const config = await readBlobJson<ImageConfig>(dir, manifest.config, 'config');
  const manifestDescriptor: Descriptor = { mediaType: manifest.mediaType ?? current.mediaType, digest: current.digest, size: current.size };
  return { manifestDigest: current.digest, manifestDescriptor, manifest, config, layers: manifest.layers, rootDescriptor: root };
}

/**
 * Copies the image's blobs (layers, config, manifest) from the layout into the store, each verified
 * against its digest and size by the store as it streams. Blobs already in the store are skipped.
 *
 * @example
 * await importOciLayoutBlobs(dir, await readOciLayout(dir, { tag: 'v1' }), store)
 */
export async function importOciLayoutBlobs(dir: string, image: Image, store: BlobStore): Promise<void> {
  const all = [image.manifestDescriptor, image.manifest.config, ...image.manifest.layers];
  for (const desc of all) {
    if (await store.has(desc.digest)) continue;
    const path = layoutBlobPath(dir, desc.digest);
    const st = await stat(path).catch(() => undefined);
    if (!st) {
      throw new OciLayoutError('E_OCI_LAYOUT_BLOB_MISSING', `OCI layout ${dir} is missing blob ${desc.digest} (${desc.mediaType}) at blobs/sha256/${digestHex(desc.digest)}.`, {
        data: { dir, digest: desc.digest },
      });
    }
    try {
      await store.put(createReadStream(path), { expected: desc.digest, size: desc.size });
    } catch (err) {
      throw new OciLayoutError('E_OCI_LAYOUT_DIGEST_MISMATCH', `OCI layout ${dir}: blob ${desc.digest} does not match its digest or size (${(err as Error).message}).`, {
        cause: err,
        data: { dir, digest: desc.digest },
      });
    }
  }
}
