export { type Credentials, type CredentialStore, StaticCredentialStore } from './credentials.js';
export { DockerConfigCredentialStore, DOCKER_HUB_CONFIG_KEY, type DockerConfigOptions } from './docker-config.js';
export { CredentialsError } from './errors.js';
