/**
 * Turning a config plus layer descriptors into a stored image (config blob → manifest blob), the
 * last step of a build before an exporter runs.
 */
import type { BlobStore, Descriptor } from '@build-image/cache';
import { putJson } from './json.js';
import { MediaType } from './mediaTypes.js';
import type { Image, ImageConfig, ImageManifest } from './types.js';

export interface PutImageOptions {
  /** `'oci'` (default) writes OCI media types for manifest and config; `'docker'` Docker's schema 2. */
  mediaTypes?: 'oci' | 'docker';
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

/**
 * Stores `config` and a manifest that references it and `layers` (whose blobs must already be in
 * the store), returning the {@link Image} exporters take.
 *
 * @example
 * const image = await putImage(store, config, [layerDescriptor])
 * await exportOciLayout(image, store, '/out', { names: ['app:1'] })
 */
export async function putImage(store: BlobStore, config: ImageConfig, layers: Descriptor[], options: PutImageOptions = {}): Promise<Image> {
  const docker = options.mediaTypes === 'docker';
  const configDescriptor = await putJson(store, config, docker ? MediaType.DockerConfig : MediaType.OciConfig);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: configDescriptor,
    layers: layers.map((l) => ({ ...l })),
    ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
  };
  const manifestDescriptor = await putJson(store, manifest, manifest.mediaType!);
  return { manifestDescriptor, manifest, config, layers: manifest.layers };
}
