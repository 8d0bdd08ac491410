export type { ApplyMode, LayerApplier, LowerLayer, MutableSnapshot, SnapshotDiff, Snapshotter, UpperFormat } from './types.js';
export { OverlaySnapshotter } from './overlay.js';
export type { OverlaySnapshotterOptions } from './overlay.js';
export { CopySnapshotter, chainId } from './copy.js';
export type { CopySnapshotterOptions } from './copy.js';
export { createSnapshotter, overlayWorks } from './create.js';
export type { CreateSnapshotterOptions } from './create.js';
export { MountError, mountOverlay, unmount } from './mount.js';
export { readXattrs, writeXattrs } from './xattr.js';
