/**
 * `type=oci,tar=false`: an OCI image layout directory (image-spec image-layout.md):
 * `oci-layout`, `index.json`, `blobs/sha256/<hex>`. Call order: blobs (config, layers) → manifest
 * → index.json last, so a reader never sees an index naming a missing blob.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore, Descriptor } from '@build-image/cache';
import { canonicalJson, digestHex } from '../image/json.js';
import { Annotation, MediaType } from '../image/mediaTypes.js';
import type { Image, ImageIndex } from '../image/types.js';
import { placeBlob } from './blobs.js';
import { ExportError } from './errors.js';
import { parseExportNames } from './names.js';

/** Options of {@link exportOciLayout} and the tar exporters. */
export interface ExportOptions {
  /** Image names (tags): `app`, `app:1`, `registry.example/app:1`. Each becomes an index entry. */
  names?: readonly string[];
}

export const OCI_LAYOUT_FILE = { imageLayoutVersion: '1.0.0' } as const;

/** Blob descriptors of an image, config and layers first, manifest last, duplicates removed. */
export function imageBlobs(image: Image): Descriptor[] {
  const seen = new Set<string>();
  const out: Descriptor[] = [];
  for (const d of [image.manifest.config, ...image.manifest.layers, image.manifestDescriptor]) {
    if (seen.has(d.digest)) continue;
    seen.add(d.digest);
    out.push(d);
  }
  return out;
}

/**
 * The index.json descriptors for `image` under `names` (one per name; one without annotations
 * when no name is given), annotated as BuildKit does.
 */
export function indexDescriptors(image: Image, names: readonly string[]): Descriptor[] {
  const base: Descriptor = { mediaType: image.manifestDescriptor.mediaType, digest: image.manifestDescriptor.digest, size: image.manifestDescriptor.size };
  const parsed = parseExportNames(names);
  if (parsed.length === 0) return [base];
  return parsed.map((n) => {
    const annotations: Record<string, string> = { [Annotation.ContainerdImageName]: n.full };
    if (image.config.created) annotations[Annotation.Created] = image.config.created;
    if (n.refName !== undefined) annotations[Annotation.RefName] = n.refName;
    return { ...base, annotations };
  });
}

/**
 * Writes (or adds to) an OCI image layout directory. An entry of an existing index.json with the
 * same ref name (tag) or the same full image name is replaced.
 *
 * @example
 * await exportOciLayout(image, store, './out', { names: ['app:1'] })
 * // skopeo inspect oci:./out:1
 */
export async function exportOciLayout(image: Image, store: BlobStore, dir: string, options: ExportOptions = {}): Promise<void> {
  for (const desc of imageBlobs(image)) {
    await placeBlob(store, desc, join(dir, 'blobs', 'sha256', digestHex(desc.digest)));
  }
  const layoutPath = join(dir, 'oci-layout');
  const existingLayout = await readFile(layoutPath, 'utf8').catch(() => undefined);
  if (existingLayout === undefined) await writeFile(layoutPath, JSON.stringify(OCI_LAYOUT_FILE));

  const indexPath = join(dir, 'index.json');
  let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const existing = await readFile(indexPath, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    try {
      index = JSON.parse(existing) as ImageIndex;
      if (!Array.isArray(index.manifests)) throw new Error('"manifests" is not an array');
    } catch (err) {
      throw new ExportError('E_EXPORT_LAYOUT_INVALID', `${indexPath} exists but is not a valid OCI index (${(err as Error).message}); export to an empty directory or fix the file.`, {
        cause: err,
        data: { dir },
      });
    }
  }
  const added = indexDescriptors(image, options.names ?? []);
  const refNames = new Set(added.map((d) => d.annotations?.[Annotation.RefName]).filter((v) => v !== undefined));
  const fullNames = new Set(added.map((d) => d.annotations?.[Annotation.ContainerdImageName]).filter((v) => v !== undefined));
  index.manifests = index.manifests.filter((d) => {
    const ref = d.annotations?.[Annotation.RefName];
    const full = d.annotations?.[Annotation.ContainerdImageName];
    if (ref !== undefined && refNames.has(ref)) return false;
    if (full !== undefined && fullNames.has(full)) return false;
    // An unnamed entry for the same manifest is replaced by the new one.
    return !(d.annotations === undefined && d.digest === image.manifestDescriptor.digest);
  });
  index.manifests.push(...added);
  const tmp = `${indexPath}.tmp-${process.pid}`;
  await writeFile(tmp, canonicalJson(index));
  await rename(tmp, indexPath);
}
