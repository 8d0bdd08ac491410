/**
 * TypeScript shapes of the OCI image-spec documents (manifest, index, image config) and their
 * Docker schema 2 twins. Field names are the specs' JSON names, so a parsed document is one of these
 * without any mapping.
 */
import type { Descriptor, Digest } from '@build-image/cache';

export type { Descriptor, Digest };

/** Platform of an image (image-spec image-index.md `platform`). */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** image-spec manifest.md (also Docker's schema 2 manifest, which has the same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** image-spec image-index.md (also Docker's manifest list). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker's HEALTHCHECK as it appears in the image config (durations in nanoseconds). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The runtime defaults of an image (image-spec config.md `config`, plus Docker's extensions). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker extension, written by BuildKit. */
  Healthcheck?: HealthConfig;
  /** Docker extension: the SHELL instruction. */
  Shell?: string[];
  /** Docker extension: ONBUILD triggers. */
  OnBuild?: string[] | null;
  /** Docker extension: set when CMD/ENTRYPOINT came from shell form on Windows. */
  ArgsEscaped?: boolean;
}

/** One step of image-spec config.md `history`. */
export interface History {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** image-spec config.md: the image configuration blob. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: History[];
}

/**
 * An image whose blobs (config, layers, manifest) are in a store: what exporters take and what the
 * OCI-layout reader returns. `layers` is `manifest.layers`, kept beside it for convenience.
 */
export interface Image {
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  layers: Descriptor[];
}
