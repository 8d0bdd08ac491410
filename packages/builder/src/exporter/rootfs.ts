/** `type=local`: the image's file system, its layers applied in order into a directory. */
import type { BlobStore } from '@build-image/cache';
import type { Image } from '../image/types.js';
import { applyLayer, type ApplyLayerOptions } from '../layer/apply.js';

/**
 * Applies every layer of `image` to `dir` in order.
 *
 * @example
 * await exportRootfs(image, store, './rootfs')
 */
export async function exportRootfs(image: Image, store: BlobStore, dir: string, options: ApplyLayerOptions = {}): Promise<void> {
  for (const layer of image.manifest.layers) {
    await applyLayer(dir, store.get(layer.digest), options);
  }
}
