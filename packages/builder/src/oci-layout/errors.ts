import { BuildError, type BuildErrorOptions } from '@build-image/errors';

/**
 * - `E_OCI_LAYOUT_NOT_FOUND`: the directory has no readable `index.json`/`oci-layout`.
 * - `E_OCI_LAYOUT_INVALID`: a document in the layout is not valid JSON of the expected kind.
 * - `E_OCI_LAYOUT_REF_NOT_FOUND`: no manifest carries the requested tag or digest.
 * - `E_OCI_LAYOUT_AMBIGUOUS`: no tag/digest given and the index has more than one entry.
 * - `E_OCI_LAYOUT_PLATFORM_NOT_FOUND`: an index has no manifest for the requested platform.
 * - `E_OCI_LAYOUT_BLOB_MISSING`: a blob the image references is not in `blobs/`.
 * - `E_OCI_LAYOUT_DIGEST_MISMATCH`: a blob's content does not match its digest or size.
 */
export type OciLayoutErrorCode =
  | 'E_OCI_LAYOUT_NOT_FOUND'
  | 'E_OCI_LAYOUT_INVALID'
  | 'E_OCI_LAYOUT_REF_NOT_FOUND'
  | 'E_OCI_LAYOUT_AMBIGUOUS'
  | 'E_OCI_LAYOUT_PLATFORM_NOT_FOUND'
  | 'E_OCI_LAYOUT_BLOB_MISSING'
  | 'E_OCI_LAYOUT_DIGEST_MISMATCH';

/** An error reading an OCI image layout used as an image source. */
export class OciLayoutError extends BuildError {
  override readonly name = 'OciLayoutError';
  declare readonly code: OciLayoutErrorCode;
  constructor(code: OciLayoutErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(code, message, options);
  }
}
