import { BuildError, type BuildErrorOptions } from '@build-image/errors';

/**
 * Stable codes of every error the layer module throws on purpose. Callers match on `code`.
 * - `E_LAYER_HARDLINK_TARGET`: a hardlink names a target that does not exist in the root (or is the root).
 * - `E_LAYER_INVALID_WHITEOUT`: a `.wh.` name that does not name a sibling (`.wh.`, `.wh..`, `.wh...`).
 * - `E_LAYER_UNSUPPORTED_ENTRY`: a tar entry type this engine cannot apply (e.g. GNU sparse).
 * - `E_LAYER_COMPRESSION_UNSUPPORTED`: a compression this Node cannot decode (zstd without support).
 * - `E_LAYER_CORRUPT`: the tar stream is malformed or truncated.
 * - `E_LAYER_ENTRY_SIZE`: an entry body is shorter or longer than its header says.
 * - `E_LAYER_OVERLAY_UNSUPPORTED`: an overlay upper dir uses redirect_dir or metacopy.
 * - `E_LAYER_INVALID_ENTRY`: an entry header given to the writer is malformed.
 * - `E_LAYER_NOT_A_DIRECTORY`: an entry's parent exists in the root and is not a directory.
 */
export type LayerErrorCode =
  | 'E_LAYER_HARDLINK_TARGET'
  | 'E_LAYER_INVALID_WHITEOUT'
  | 'E_LAYER_UNSUPPORTED_ENTRY'
  | 'E_LAYER_COMPRESSION_UNSUPPORTED'
  | 'E_LAYER_CORRUPT'
  | 'E_LAYER_ENTRY_SIZE'
  | 'E_LAYER_OVERLAY_UNSUPPORTED'
  | 'E_LAYER_INVALID_ENTRY'
  | 'E_LAYER_NOT_A_DIRECTORY';

/** An error reading, applying or writing a layer. */
export class LayerError extends BuildError {
  override readonly name = 'LayerError';
  declare readonly code: LayerErrorCode;
  constructor(code: LayerErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A non-fatal condition met while applying a layer (an entry skipped, an xattr not set). */
export interface LayerWarning {
  code: 'W_LAYER_DEVICE_SKIPPED' | 'W_LAYER_XATTR_SKIPPED' | 'W_LAYER_SOCKET_SKIPPED';
  path: string;
  message: string;
}
