export { applyLayer, type ApplyLayerOptions, type AppliedLayer } from './apply.js';
export { writeLayerFromEntries, tarStream, layerMediaType, type LayerEntry, type WriteLayerOptions, type WrittenLayer } from './write.js';
export { writeLayerFromDirectory, directoryEntries, WHITEOUT_PREFIX, WHITEOUT_OPAQUE, type DirectoryLayerOptions } from './directory.js';
export { decompressedStream, detectCompression, type Compression } from './compression.js';
export { resolveInRoot } from '../rootfs/resolve.js';
export { LayerError, type LayerErrorCode, type LayerWarning } from './errors.js';
export type { TarHeader, TarEntryType } from './tarHeader.js';
