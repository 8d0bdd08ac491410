/**
 * `build-image inspect`: one image's manifest, config and history with layer sizes, from an OCI
 * layout directory, an OCI or docker archive (tar) or a registry — what `docker image inspect`
 * and `docker history` show, without a daemon. History entries are matched to layers the way
 * Docker does: every entry without `empty_layer` takes the next layer in order.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { BuildError } from '@build-image/errors';
import type { Descriptor, Digest } from '@build-image/cache';
import type { ImageConfig, ImageIndex, ImageManifest, Platform } from '../image/index.js';
import { isIndexMediaType } from '../image/index.js';
import { layoutBlobPath, readOciLayout } from '../oci-layout/index.js';
import { formatPlatform, hostPlatform, parsePlatform, platformRank } from '../platform.js';
import type { RegistryClient } from '../registry/index.js';
import { sha256Digest } from '../image/index.js';

/** One layer of the image. */
export interface InspectedLayer {
  digest: Digest;
  mediaType: string;
  /** Size of the blob as stored (compressed). */
  size: number;
  diffId?: string;
}

/** One `docker history` row, oldest first. */
export interface InspectedHistory {
  created?: string;
  createdBy?: string;
  comment?: string;
  author?: string;
  emptyLayer: boolean;
  /** The layer this entry made (absent for empty layers). */
  layer?: Digest;
  /** Its size; 0 for empty layers. */
  size: number;
}

/** What {@link inspectImage} reports. */
export interface ImageInspection {
  /** Where the image was read: `oci-layout:DIR`, `oci-archive:FILE`, `docker-archive:FILE`, `docker://REF`. */
  source: string;
  /** Manifest digest (what a registry names the image by). */
  digest: Digest;
  mediaType: string;
  /** The index the manifest was selected from, with every platform it lists. */
  index?: { digest: Digest; platforms: string[] };
  /** Config digest: the image id `docker images` shows. */
  configDigest: Digest;
  platform: string;
  created?: string;
  author?: string;
  /** The runtime config (`config` of the image config). */
  config: NonNullable<ImageConfig['config']>;
  /** Sum of the layer blobs and the config blob. */
  size: number;
  layers: InspectedLayer[];
  history: InspectedHistory[];
}

export interface InspectOptions {
  /** Platform to pick from an index; default this host's. */
  platform?: string;
  /** Needed for registry references. */
  registry?: RegistryClient;
  /** Working directory for relative paths. */
  cwd?: string;
}

/** The image could not be found or read. Code `E_INSPECT`. */
export class InspectError extends BuildError {
  override readonly name = 'InspectError';
  constructor(message: string, data: Record<string, unknown>, cause?: unknown) {
    super('E_INSPECT', message, { data, ...(cause !== undefined ? { cause } : {}) });
  }
}

/**
 * Reads one image and describes it. `target` is `oci-layout://DIR[:TAG|@DIGEST]`, a layout
 * directory, `oci-archive:FILE`/`docker-archive:FILE` or an archive path, or else a registry
 * reference (`docker://` prefix optional).
 *
 * @example
 * const info = await inspectImage('out/app.tar')
 * console.log(info.digest, info.history.map((h) => h.createdBy))
 */
export async function inspectImage(target: string, options: InspectOptions = {}): Promise<ImageInspection> {
  const cwd = options.cwd ?? process.cwd();
  const wanted = options.platform ? parsePlatform(options.platform) : hostPlatform();
  let m: RegExpMatchArray | null;
  if ((m = target.match(/^oci-layout:(?:\/\/)?(.*)$/))) return fromLayout(cwd, m[1]!, wanted);
  if ((m = target.match(/^(oci-archive|docker-archive):(?:\/\/)?(.*)$/))) return fromArchive(path.resolve(cwd, m[2]!), wanted, m[1] === 'docker-archive' ? 'docker' : 'oci');
  if (!target.startsWith('docker://')) {
    const local = await stat(path.resolve(cwd, target)).catch(() => undefined);
    if (local?.isDirectory()) return fromLayout(cwd, target, wanted);
    if (local?.isFile()) return fromArchive(path.resolve(cwd, target), wanted);
  }
  const ref = target.replace(/^docker:\/\//, '');
  if (!options.registry) throw new InspectError(`${target} is not a file or directory here, and no registry client was given to look it up`, { target });
  const img = await options.registry.resolve(ref, wanted);
  return describe(`docker://${ref}`, {
    manifestDescriptor: img.manifestDescriptor,
    manifest: img.manifest,
    config: img.config as ImageConfig,
    configSize: img.configBytes.length,
    ...(img.indexDigest && img.index ? { index: { digest: img.indexDigest, manifests: img.index } } : {}),
  });
}

/** `DIR`, `DIR:TAG` or `DIR@DIGEST` (as `--build-context NAME=oci-layout://…` takes it). */
async function fromLayout(cwd: string, spec: string, wanted: Platform): Promise<ImageInspection> {
  let dir = spec;
  let tag: string | undefined;
  let digest: string | undefined;
  const at = spec.lastIndexOf('@');
  if (at > 0 && /^sha256:/.test(spec.slice(at + 1))) {
    dir = spec.slice(0, at);
    digest = spec.slice(at + 1);
  } else {
    // The tag follows the first colon of the last path segment (a tag may hold colons itself).
    const slash = spec.lastIndexOf('/');
    const colon = spec.indexOf(':', slash + 1);
    const candidate = colon > 0 ? spec.slice(0, colon) : undefined;
    if (candidate !== undefined && (await stat(path.resolve(cwd, spec)).catch(() => undefined)) === undefined) {
      dir = candidate;
      tag = spec.slice(colon + 1);
    }
  }
  const abs = path.resolve(cwd, dir);
  const img = await readOciLayout(abs, { ...(tag ? { tag } : {}), ...(digest ? { digest } : {}), platform: wanted });
  return describe(`oci-layout:${abs}${tag ? `:${tag}` : ''}`, {
    manifestDescriptor: { ...img.manifestDescriptor, digest: img.manifestDigest },
    manifest: img.manifest,
    config: img.config,
    configSize: img.manifest.config.size,
    ...(isIndexMediaType(img.rootDescriptor.mediaType)
      ? { index: { digest: img.rootDescriptor.digest, manifests: JSON.parse(await readFile(layoutBlobPath(abs, img.rootDescriptor.digest), 'utf8')) as ImageIndex } }
      : {}),
  });
}

/** Archive entries small enough to be JSON documents are kept; layer blobs are only measured. */
const KEEP_BYTES = 4 << 20;

async function readArchive(file: string): Promise<{ small: Map<string, Buffer>; sizes: Map<string, number> }> {
  const small = new Map<string, Buffer>();
  const sizes = new Map<string, number>();
  const extract = tar.extract();
  const source = createReadStream(file);
  source.on('error', (e) => extract.destroy(e));
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const name = path.posix.normalize(header.name).replace(/^\.?\//, '');
      const size = header.size ?? 0;
      sizes.set(name, size);
      if (header.type !== 'file' || size > KEEP_BYTES) {
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      small.set(name, Buffer.concat(chunks));
    }
  } catch (e) {
    throw new InspectError(`${file} is not a readable tar archive: ${(e as Error).message}`, { file }, e);
  } finally {
    source.destroy();
  }
  return { small, sizes };
}

function json<T>(bytes: Buffer | undefined, what: string, file: string): T {
  if (!bytes) throw new InspectError(`${file}: the archive has no ${what}`, { file, what });
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new InspectError(`${file}: ${what} is not valid JSON`, { file, what }, e);
  }
}

function pickManifest(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  const candidates = index.manifests ?? [];
  if (candidates.length === 1) return candidates[0];
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const d of candidates) {
    const r = d.platform ? platformRank(wanted, d.platform) : undefined;
    if (r !== undefined && r < bestRank) {
      best = d;
      bestRank = r;
    }
  }
  return best;
}

/** `prefer`: which index to read when an archive has both (docker save writes index.json and manifest.json). */
async function fromArchive(file: string, wanted: Platform, prefer: 'oci' | 'docker' = 'oci'): Promise<ImageInspection> {
  const { small, sizes } = await readArchive(file);
  const blob = (d: Digest | string) => small.get(`blobs/sha256/${d.replace(/^sha256:/, '')}`);
  if (small.has('index.json') && !(prefer === 'docker' && small.has('manifest.json'))) {
    let index = json<ImageIndex>(small.get('index.json'), 'index.json', file);
    let indexInfo: { digest: Digest; manifests: ImageIndex } | undefined;
    let desc = pickManifest(index, wanted);
    // One level of nesting: a layout whose index.json points at a multi-platform index.
    for (let depth = 0; desc && isIndexMediaType(desc.mediaType) && depth < 4; depth++) {
      index = json<ImageIndex>(blob(desc.digest), `index ${desc.digest}`, file);
      indexInfo = { digest: desc.digest, manifests: index };
      desc = pickManifest(index, wanted);
    }
    if (!desc) throw new InspectError(`${file}: no image for ${formatPlatform(wanted)} in the archive`, { file });
    const manifest = json<ImageManifest>(blob(desc.digest), `manifest ${desc.digest}`, file);
    const config = json<ImageConfig>(blob(manifest.config.digest), `config ${manifest.config.digest}`, file);
    return describe(`oci-archive:${file}`, { manifestDescriptor: desc, manifest, config, configSize: manifest.config.size, ...(indexInfo ? { index: indexInfo } : {}) });
  }
  if (small.has('manifest.json')) {
    // docker save format: [{ Config, RepoTags, Layers: ["<dir>/layer.tar" | "blobs/sha256/<hex>"] }]
    const entries = json<Array<{ Config: string; Layers: string[] }>>(small.get('manifest.json'), 'manifest.json', file);
    const first = entries[0];
    if (!first) throw new InspectError(`${file}: manifest.json lists no image`, { file });
    const configBytes = small.get(path.posix.normalize(first.Config));
    const config = json<ImageConfig>(configBytes, first.Config, file);
    const configDigest = sha256Digest(configBytes!);
    const layers: Descriptor[] = first.Layers.map((l, i) => ({
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar',
      digest: (/^blobs\/sha256\/[0-9a-f]{64}$/.test(l) ? `sha256:${l.slice(13)}` : (config.rootfs?.diff_ids?.[i] ?? 'sha256:')) as Digest,
      size: sizes.get(path.posix.normalize(l)) ?? 0,
    }));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: configBytes!.length },
      layers,
    } as ImageManifest;
    const bytes = Buffer.from(JSON.stringify(manifest));
    return describe(`docker-archive:${file}`, {
      manifestDescriptor: { mediaType: manifest.mediaType!, digest: sha256Digest(bytes), size: bytes.length },
      manifest,
      config,
      configSize: configBytes!.length,
    });
  }
  throw new InspectError(`${file} is neither an OCI archive (index.json) nor a docker archive (manifest.json)`, { file });
}

function describe(
  source: string,
  img: { manifestDescriptor: Descriptor; manifest: ImageManifest; config: ImageConfig; configSize: number; index?: { digest: Digest; manifests: ImageIndex | undefined } },
): ImageInspection {
  const { manifest, config } = img;
  const layers: InspectedLayer[] = manifest.layers.map((l, i) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    ...(config.rootfs?.diff_ids?.[i] ? { diffId: config.rootfs.diff_ids[i] } : {}),
  }));
  let next = 0;
  const history: InspectedHistory[] = (config.history ?? []).map((h) => {
    const empty = h.empty_layer === true;
    const layer = empty ? undefined : layers[next++];
    return {
      ...(h.created ? { created: h.created } : {}),
      ...(h.created_by !== undefined ? { createdBy: h.created_by } : {}),
      ...(h.comment ? { comment: h.comment } : {}),
      ...(h.author ? { author: h.author } : {}),
      emptyLayer: empty,
      ...(layer ? { layer: layer.digest } : {}),
      size: layer?.size ?? 0,
    };
  });
  const platform = formatPlatform({ os: config.os ?? 'unknown', architecture: config.architecture ?? 'unknown', ...(config.variant ? { variant: config.variant } : {}) });
  return {
    source,
    digest: img.manifestDescriptor.digest,
    mediaType: img.manifestDescriptor.mediaType ?? manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    ...(img.index
      ? {
          index: {
            digest: img.index.digest,
            platforms: (img.index.manifests?.manifests ?? []).filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform)),
          },
        }
      : {}),
    configDigest: manifest.config.digest,
    platform,
    ...(config.created ? { created: config.created } : {}),
    ...(config.author ? { author: config.author } : {}),
    config: config.config ?? {},
    size: layers.reduce((n, l) => n + l.size, 0) + img.configSize,
    layers,
    history,
  };
}
