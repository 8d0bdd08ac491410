export {
  parseReference,
  formatReference,
  familiarString,
  referenceName,
  registryApiHost,
  withTag,
  withDigest,
  DOCKER_HUB,
  DOCKER_HUB_API_HOST,
  type ImageReference,
} from './parse.js';
export { ImageReferenceError, type ImageReferenceErrorReason } from './errors.js';
