import { BuildError, type BuildErrorOptions } from '@build-image/errors';

/**
 * - `E_EXPORT_INVALID_NAME`: an image name given to an exporter is not a valid reference.
 * - `E_EXPORT_BLOB_MISSING`: a blob the image references is not in the store.
 * - `E_EXPORT_LAYOUT_INVALID`: an existing OCI layout directory cannot be added to.
 */
export type ExportErrorCode = 'E_EXPORT_INVALID_NAME' | 'E_EXPORT_BLOB_MISSING' | 'E_EXPORT_LAYOUT_INVALID';

/** An error writing an image out (OCI layout, tarball, rootfs). */
export class ExportError extends BuildError {
  override readonly name = 'ExportError';
  declare readonly code: ExportErrorCode;
  constructor(code: ExportErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(code, message, options);
  }
}
