import { BuildError } from '@build-image/errors';

/**
 * An image reference that does not follow the distribution/reference grammar.
 * `data.reference` holds the input; `data.reason` a short machine-friendly reason.
 */
export class ImageReferenceError extends BuildError {
  override readonly name = 'ImageReferenceError';
  constructor(reference: string, reason: ImageReferenceErrorReason, message: string) {
    super('E_REFERENCE', message, { data: { reference, reason } });
  }
}

/** Why a reference was rejected. */
export type ImageReferenceErrorReason =
  | 'empty'
  | 'format'
  | 'uppercase'
  | 'name-too-long'
  | 'hex-identifier'
  | 'digest'
  | 'tag';
