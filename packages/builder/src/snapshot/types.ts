/**
 * Snapshots: the root filesystem a RUN sees (lower layers + a writable layer) and the
 * directory of changes it produced, which the layer writer turns into an OCI layer.
 */

/** How a layer's content must be laid out by a {@link LayerApplier}. */
export type ApplyMode =
  | {
      /**
       * Overlay lower-dir format (the layer's own changes only): deletions as 0/0 character
       * devices, `.wh..wh..opq` as the `<prefix>opaque="y"` xattr on the directory.
       */
      kind: 'overlay-diff';
      xattrPrefix: 'trusted.overlay.' | 'user.overlay.';
    }
  | {
      /** The directory already holds the parent layers' merged tree: apply the layer on top (deleting whiteout targets). */
      kind: 'apply';
    };

/** Fills `dir` with one layer's content in the given mode (the solver passes `applyLayer` from layer/). */
export type LayerApplier = (dir: string, mode: ApplyMode) => Promise<void>;

/** A lower layer as `prepare` receives it: its diffID and how to extract it when absent. */
export interface LowerLayer {
  /** `sha256:<hex>` of the uncompressed layer tar (a placeholder while {@link dir} is set). */
  diffId: string;
  /** Only called when the layer is not on disk yet. */
  apply: LayerApplier;
  /**
   * The layer is already on disk in lower-dir format at this path: the change dir of a finished
   * snapshot whose blob is still being written. Only the overlay snapshotter accepts it.
   */
  dir?: string;
}

/** Format of a finished snapshot's change dir, in the terms of `writeLayerFromDirectory`'s `overlay` option. */
export type UpperFormat = 'root' | 'rootless';

/** The changes of a finished snapshot. */
export interface SnapshotDiff {
  /** An overlay-upper-like directory: changed entries, 0/0 char devices for deletions, opaque xattrs. */
  upperDir: string;
  /** xattr namespace of overlay markers in `upperDir`. */
  format: UpperFormat;
}

/** A writable root filesystem for one RUN. */
export interface MutableSnapshot {
  /** Directory to use as the container's rootfs. */
  readonly mergedDir: string;
  /** Stops writes (unmounts) and returns the change dir. Idempotent. */
  diff(): Promise<SnapshotDiff>;
  /**
   * Keeps the result as the on-disk layer `diffId`, so a later `prepare` that lists it does not
   * extract it again. Call after {@link diff} and after the layer writer produced the diffID.
   */
  commit(diffId: string): Promise<void>;
  /** Unmounts and deletes everything of this snapshot that was not committed. Idempotent. */
  release(): Promise<void>;
}

/** Prepares writable snapshots on top of lower layers. */
export interface Snapshotter {
  readonly kind: 'overlay' | 'copy';
  /** Root of the on-disk state (`layers/`, `snapshots/`, ...). */
  readonly root: string;
  /** Makes the layers present (extracting each once) and returns a fresh writable snapshot over them, bottom layer first. */
  prepare(lowers: readonly LowerLayer[]): Promise<MutableSnapshot>;
  /** True when the layer (overlay) or the chain ending in it (copy) is already on disk. */
  has(lowerDiffIds: readonly string[]): Promise<boolean>;
}
