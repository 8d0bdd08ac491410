/**
 * `type=oci` and `type=docker` tarballs: the OCI layout as one deterministic tar (sorted entries,
 * fixed mtimes, numeric owners 0:0), plus Docker's `manifest.json` and `repositories`, so both OCI
 * tools (`skopeo oci-archive:`) and `docker load` accept it, as BuildKit's output does.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, Descriptor } from '@build-image/cache';
import { canonicalJson, digestHex, putJson } from '../image/json.js';
import { MediaType, toDockerMediaType } from '../image/mediaTypes.js';
import type { Image, ImageIndex, ImageManifest } from '../image/types.js';
import { tarStream, type LayerEntry } from '../layer/write.js';
import { ExportError } from './errors.js';
import { parseExportNames } from './names.js';
import { OCI_LAYOUT_FILE, imageBlobs, indexDescriptors, type ExportOptions } from './ociLayout.js';

/** Options of the tar exporters. */
export interface ExportTarOptions extends ExportOptions {
  /** mtime of every tar entry, seconds. Default 0 (the epoch): the tar depends only on the image. */
  mtime?: number;
}

/** Docker's `manifest.json` for one image (what `docker load` reads). */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function file(name: string, content: string | Buffer, mtime: number): LayerEntry {
  const body = Buffer.from(content);
  return { header: { name, type: 'file', mode: 0o644, size: body.length, mtime }, body: Readable.from([body]) };
}

async function* archiveEntries(image: Image, store: BlobStore, options: ExportTarOptions): AsyncGenerator<LayerEntry> {
  const mtime = options.mtime ?? 0;
  const names = parseExportNames(options.names ?? []);
  const blobs = imageBlobs(image).sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  for (const d of blobs) {
    const st = await store.stat(d.digest);
    if (!st) {
      throw new ExportError('E_EXPORT_BLOB_MISSING', `Blob ${d.digest} (${d.mediaType}) is not in the content store; it must be written (or pulled) before exporting.`, {
        data: { digest: d.digest },
      });
    }
  }
  yield { header: { name: 'blobs/', type: 'directory', mode: 0o755, mtime } };
  yield { header: { name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime } };
  for (const d of blobs) {
    const st = (await store.stat(d.digest))!;
    // The blob stream is opened only when the tar reaches it: one open blob at a time.
    yield { header: { name: `blobs/sha256/${digestHex(d.digest)}`, type: 'file', mode: 0o644, size: st.size, mtime }, body: lazy(() => store.get(d.digest)) };
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexDescriptors(image, options.names ?? []) };
  yield file('index.json', canonicalJson(index), mtime);
  const repoTags = names.map((n) => n.repoTag).filter((t): t is string => t !== undefined);
  const manifestJson: DockerArchiveManifestEntry[] = [
    {
      Config: `blobs/sha256/${digestHex(image.manifest.config.digest)}`,
      RepoTags: repoTags,
      Layers: image.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    },
  ];
  yield file('manifest.json', JSON.stringify(manifestJson), mtime);
  yield file('oci-layout', JSON.stringify(OCI_LAYOUT_FILE), mtime);
  const repositories: Record<string, Record<string, string>> = {};
  for (const n of names) {
    if (n.refName === undefined) continue;
    // Docker's legacy file maps repo → tag → image id; `docker load` prefers manifest.json.
    (repositories[n.familiarRepo] ??= {})[n.refName] = digestHex(image.manifest.config.digest);
  }
  if (Object.keys(repositories).length > 0) yield file('repositories', canonicalJson(repositories), mtime);
}

async function* lazy(open: () => Readable): AsyncGenerator<Uint8Array> {
  yield* open();
}

/**
 * Writes the image as an OCI archive tarball (`type=oci`), to a file path or a writable stream.
 *
 * @example
 * await exportOciTar(image, store, 'image.tar', { names: ['app:1'] })
 * // skopeo inspect oci-archive:image.tar ; docker load -i image.tar
 */
export async function exportOciTar(image: Image, store: BlobStore, destination: string | Writable, options: ExportTarOptions = {}): Promise<void> {
  // Byte mode: in object mode (Readable.from's default) highWaterMark counts chunks, and 65,536
  // chunks let a slow destination have the whole image read into memory ahead of it.
  const source = (): Readable => Readable.from(tarStream(archiveEntries(image, store, options)), { objectMode: false, highWaterMark: 1024 * 1024 });
  if (typeof destination !== 'string') {
    await pipeline(source(), destination);
    return;
  }
  // Written beside the destination and renamed at the end: a failed export leaves no half tar.
  const tmp = `${destination}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await pipeline(source(), createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, destination);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The same image labelled with Docker media types (manifest, config, gzip/plain layers), as
 * BuildKit's `type=docker` exporter writes it. Layer and config bytes are unchanged; the manifest is
 * re-serialized (a new digest) and stored.
 *
 * @example
 * const docker = await toDockerImage(image, store) // docker.manifestDescriptor.mediaType === MediaType.DockerManifest
 */
export async function toDockerImage(image: Image, store: BlobStore): Promise<Image> {
  const relabel = (d: Descriptor): Descriptor => ({ ...d, mediaType: toDockerMediaType(d.mediaType) });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: relabel(image.manifest.config),
    layers: image.manifest.layers.map(relabel),
  };
  // Docker's schema 2 has no annotations/subject; keep them only if present (Docker ignores them).
  if (image.manifest.annotations) manifest.annotations = image.manifest.annotations;
  const manifestDescriptor = await putJson(store, manifest, MediaType.DockerManifest);
  return { manifestDescriptor, manifest, config: image.config, layers: manifest.layers };
}

/**
 * Writes the image as BuildKit's `type=docker` tarball: Docker media types, plus the OCI layout
 * files and `manifest.json`, so `docker load` and OCI tools both read it.
 *
 * @example
 * await exportDockerTar(image, store, 'image.tar', { names: ['app:1'] })
 */
export async function exportDockerTar(image: Image, store: BlobStore, destination: string | Writable, options: ExportTarOptions = {}): Promise<Image> {
  const docker = await toDockerImage(image, store);
  await exportOciTar(docker, store, destination, options);
  return docker;
}
