export {
  RegistryClient,
  selectPlatform,
  type RegistryClientOptions,
  type ResolvedImage,
  type PushImageInput,
  type PushOptions,
  type PushResult,
  type BlobPushOutcome,
} from './client.js';
export { RegistryError, type RegistryErrorDetails, type RegistryErrorReason } from './errors.js';
export { MediaType, MANIFEST_ACCEPT, isIndexMediaType, isManifestMediaType } from './media-types.js';
export { parsePlatform, formatPlatform, hostPlatform, platformRank } from '../platform.js';
export { parseChallenge, type AuthChallenge } from './challenge.js';
export { isLoopbackHost, retryAfter } from './transport.js';
export type { Platform, ImageManifest, ImageIndex, ImageConfig } from './types.js';
export { sha256Digest } from './digest.js';
// Credentials live in ../auth; re-exported so one import serves registry users.
export { DockerConfigCredentialStore, StaticCredentialStore, CredentialsError, type Credentials, type CredentialStore } from '../auth/index.js';
