/** What the registry client asks for when a registry wants authentication. */

/** Credentials for one registry host. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken` in config.json; `<token>` user from helpers). */
  identityToken?: string;
  /** A bearer token to send as-is (`registrytoken` in config.json). */
  registryToken?: string;
}

/** Source of credentials, keyed by registry host as it appears in references (`docker.io`, `127.0.0.1:5000`). */
export interface CredentialStore {
  /** Credentials for `registry`, or undefined to go anonymous. */
  get(registry: string): Promise<Credentials | undefined>;
}

/**
 * Credentials given in code, e.g. from CLI flags or CI secrets.
 * @example `new StaticCredentialStore({ '127.0.0.1:5000': { username: 'u', password: 'p' } })`
 */
export class StaticCredentialStore implements CredentialStore {
  constructor(private readonly byRegistry: Record<string, Credentials>) {}
  async get(registry: string): Promise<Credentials | undefined> {
    return this.byRegistry[registry];
  }
}
