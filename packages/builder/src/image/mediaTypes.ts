/**
 * Media types of the OCI image spec and of Docker's image manifest v2 schema 2, as registries and
 * `docker load` expect them. Only the media type tells a reader how to decode a blob's bytes.
 */

export const MediaType = {
  /** OCI image index (a list of manifests, e.g. one per platform). */
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Docker manifest list (the Docker counterpart of an OCI index). */
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Docker schema 1 manifests: recognized only to be refused with a clear message. */
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

/** True for an OCI index or a Docker manifest list. */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** True for an OCI image manifest or a Docker schema 2 manifest. */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** True for any layer media type this engine can apply (OCI or Docker; tar, gzip, zstd). */
export function isLayerMediaType(mediaType: string): boolean {
  return (
    mediaType === MediaType.OciLayer ||
    mediaType === MediaType.OciLayerGzip ||
    mediaType === MediaType.OciLayerZstd ||
    mediaType === MediaType.DockerLayer ||
    mediaType === MediaType.DockerLayerGzip ||
    mediaType === MediaType.DockerForeignLayerGzip ||
    // Non-distributable layers (deprecated in image-spec 1.1 but still found in the wild).
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.v1.tar')
  );
}

/**
 * The Docker media type BuildKit's `type=docker` exporter writes for an OCI one. Layer blobs keep
 * their bytes; only the label changes. zstd has no Docker media type, so it stays OCI (as BuildKit does).
 *
 * @example
 * toDockerMediaType(MediaType.OciLayerGzip) // 'application/vnd.docker.image.rootfs.diff.tar.gzip'
 */
export function toDockerMediaType(mediaType: string): string {
  switch (mediaType) {
    case MediaType.OciIndex:
      return MediaType.DockerManifestList;
    case MediaType.OciManifest:
      return MediaType.DockerManifest;
    case MediaType.OciConfig:
      return MediaType.DockerConfig;
    case MediaType.OciLayer:
      return MediaType.DockerLayer;
    case MediaType.OciLayerGzip:
      return MediaType.DockerLayerGzip;
    default:
      return mediaType;
  }
}

/**
 * The OCI media type for a Docker one (the inverse of {@link toDockerMediaType}).
 *
 * @example
 * toOciMediaType(MediaType.DockerManifest) // 'application/vnd.oci.image.manifest.v1+json'
 */
export function toOciMediaType(mediaType: string): string {
  switch (mediaType) {
    case MediaType.DockerManifestList:
      return MediaType.OciIndex;
    case MediaType.DockerManifest:
      return MediaType.OciManifest;
    case MediaType.DockerConfig:
      return MediaType.OciConfig;
    case MediaType.DockerLayer:
      return MediaType.OciLayer;
    case MediaType.DockerLayerGzip:
      return MediaType.OciLayerGzip;
    default:
      return mediaType;
  }
}

/** Annotation keys this engine reads and writes (image-spec annotations.md and containerd's). */
export const Annotation = {
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  ContainerdImageName: 'io.containerd.image.name',
} as const;
