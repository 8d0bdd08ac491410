import { BuildError } from '@build-image/errors';

/**
 * Credentials could not be read: a broken `config.json`, or a credential helper that is missing
 * or failed. (A helper answering "not found" is not an error: the registry is then used anonymously.)
 */
export class CredentialsError extends BuildError {
  override readonly name = 'CredentialsError';
  constructor(message: string, data: { registry?: string; helper?: string; configFile?: string }, cause?: unknown) {
    super('E_CREDENTIALS', message, { data: { ...data }, cause });
  }
}
