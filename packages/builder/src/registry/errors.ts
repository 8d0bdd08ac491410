import { BuildError } from '@build-image/errors';

/** What went wrong talking to a registry, for programs (the message is for people). */
export type RegistryErrorReason =
  | 'unauthorized'
  | 'denied'
  | 'not-found'
  | 'platform'
  | 'digest-mismatch'
  | 'size-mismatch'
  | 'tls'
  | 'network'
  | 'protocol'
  | 'unsupported'
  | 'local-blob-missing'
  | 'http';

/** Details of a {@link RegistryError}; all JSON-serializable. */
export interface RegistryErrorDetails {
  /** The image as the user named it, e.g. `127.0.0.1:5000/x:1`. */
  image: string;
  /** Registry host, e.g. `127.0.0.1:5000` or `docker.io`. */
  registry: string;
  /** HTTP status, when there was an HTTP answer. */
  status?: number;
  reason: RegistryErrorReason;
  /** Error codes from the registry's JSON body (`MANIFEST_UNKNOWN`, `DENIED`, …). */
  registryCodes?: string[];
  [key: string]: unknown;
}

/**
 * A registry operation failed. `code` is always `E_REGISTRY`; `status` the HTTP status (0 when
 * there was no HTTP answer); `data.reason` says what kind of failure it was.
 *
 * @example
 * ```ts
 * try { await client.resolve(ref) } catch (e) {
 *   if (e instanceof RegistryError && e.status === 404) { ... }
 * }
 * ```
 */
export class RegistryError extends BuildError {
  override readonly name = 'RegistryError';
  readonly status: number;
  declare readonly data: RegistryErrorDetails;
  constructor(message: string, details: RegistryErrorDetails, cause?: unknown) {
    super('E_REGISTRY', message, { data: { ...details, status: details.status ?? 0 }, cause });
    this.status = details.status ?? 0;
  }
}
